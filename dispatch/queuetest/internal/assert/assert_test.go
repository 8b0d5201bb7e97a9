package assert_test

import (
	"errors"
	"fmt"
	"testing"

	testify "github.com/stretchr/testify/assert"

	"github.com/hookkit/hookkit/dispatch/queuetest/internal/assert"
)

// recorder is a testing.TB that records failures instead of failing the test.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Error(args ...any)         { r.failures = append(r.failures, fmt.Sprint(args...)) }
func (r *recorder) Errorf(f string, a ...any) { r.failures = append(r.failures, fmt.Sprintf(f, a...)) }

// TestChecksPassAndFail: every check passes on what it accepts and fails, with the
// caller's message, on what it does not, as testify's do (the suite's verdicts rest on
// them).
func TestChecksPassAndFail(t *testing.T) {
	errX := errors.New("x")
	for _, tc := range []struct {
		name       string
		pass, fail func(t testing.TB) bool
	}{
		{"Equal", func(t testing.TB) bool { return assert.Equal(t, []int{1, 2}, []int{1, 2}) },
			func(t testing.TB) bool { return assert.Equal(t, []int{1, 2}, []int{2, 1}, "msg %d", 7) }},
		{"Equal bytes", func(t testing.TB) bool { return assert.Equal(t, []byte("a"), []byte("a")) },
			func(t testing.TB) bool { return assert.Equal(t, []byte("a"), []byte("b"), "msg %d", 7) }},
		{"NotEqual", func(t testing.TB) bool { return assert.NotEqual(t, 1, 2) },
			func(t testing.TB) bool { return assert.NotEqual(t, "a", "a", "msg %d", 7) }},
		{"True", func(t testing.TB) bool { return assert.True(t, true) },
			func(t testing.TB) bool { return assert.True(t, false, "msg %d", 7) }},
		{"False", func(t testing.TB) bool { return assert.False(t, false) },
			func(t testing.TB) bool { return assert.False(t, true, "msg %d", 7) }},
		{"Empty", func(t testing.TB) bool {
			return assert.Empty(t, []string{}) && assert.Empty(t, "") && assert.Empty(t, 0)
		},
			func(t testing.TB) bool { return assert.Empty(t, []string{"a"}, "msg %d", 7) }},
		{"NotEmpty", func(t testing.TB) bool { return assert.NotEmpty(t, "a") },
			func(t testing.TB) bool { return assert.NotEmpty(t, map[string]int{}, "msg %d", 7) }},
		{"Zero", func(t testing.TB) bool { return assert.Zero(t, 0) },
			func(t testing.TB) bool { return assert.Zero(t, 3, "msg %d", 7) }},
		{"Len", func(t testing.TB) bool { return assert.Len(t, []int{1, 2}, 2) },
			func(t testing.TB) bool { return assert.Len(t, []int{1, 2}, 3, "msg %d", 7) }},
		{"Less", func(t testing.TB) bool { return assert.Less(t, uint64(1), 2) },
			func(t testing.TB) bool { return assert.Less(t, 2, 2, "msg %d", 7) }},
		{"Contains", func(t testing.TB) bool { return assert.Contains(t, []string{"a", "b"}, "b") },
			func(t testing.TB) bool { return assert.Contains(t, []string{"a", "b"}, "c", "msg %d", 7) }},
		{"ElementsMatch", func(t testing.TB) bool {
			return assert.ElementsMatch(t, []string{"a", "b", "a"}, []string{"a", "a", "b"})
		},
			func(t testing.TB) bool {
				return assert.ElementsMatch(t, []string{"a", "b", "b"}, []string{"a", "a", "b"}, "msg %d", 7)
			}},
		{"NoError", func(t testing.TB) bool { return assert.NoError(t, nil) },
			func(t testing.TB) bool { return assert.NoError(t, errX, "msg %d", 7) }},
		{"ErrorIs", func(t testing.TB) bool { return assert.ErrorIs(t, fmt.Errorf("w: %w", errX), errX) },
			func(t testing.TB) bool { return assert.ErrorIs(t, errors.New("x"), errX, "msg %d", 7) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok := &recorder{TB: t}
			testify.True(t, tc.pass(ok), "passes")
			testify.Empty(t, ok.failures)
			bad := &recorder{TB: t}
			testify.False(t, tc.fail(bad), "fails")
			if testify.Len(t, bad.failures, 1) {
				testify.Contains(t, bad.failures[0], "msg 7", "with the caller's message")
			}
		})
	}
}
