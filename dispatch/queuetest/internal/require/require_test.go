package require_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hookkit/hookkit/dispatch/queuetest/internal/require"
)

// recorder is a testing.TB whose failures are recorded and whose FailNow ends only the
// goroutine it is called on.
type recorder struct {
	testing.TB
	errors  int
	stopped bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Error(...any)          { r.errors++ }
func (r *recorder) Errorf(string, ...any) { r.errors++ }
func (r *recorder) FailNow()              { r.stopped = true; runtime.Goexit() }

// run calls f with a recorder on a goroutine of its own and reports whether f returned
// (rather than being stopped) and the recorder.
func run(t *testing.T, f func(t testing.TB)) (returned bool, r *recorder) {
	r = &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
		returned = true
	}()
	<-done
	return returned, r
}

// TestRequireStopsAtTheFirstFailure: each require check lets a passing check through and
// stops the test at a failing one.
func TestRequireStopsAtTheFirstFailure(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pass, fail func(t testing.TB)
	}{
		{"Equal", func(t testing.TB) { require.Equal(t, 1, 1) }, func(t testing.TB) { require.Equal(t, 1, 2) }},
		{"True", func(t testing.TB) { require.True(t, true) }, func(t testing.TB) { require.True(t, false) }},
		{"Empty", func(t testing.TB) { require.Empty(t, "") }, func(t testing.TB) { require.Empty(t, "a") }},
		{"Len", func(t testing.TB) { require.Len(t, "ab", 2) }, func(t testing.TB) { require.Len(t, "ab", 1) }},
		{"Less", func(t testing.TB) { require.Less(t, 1, 2) }, func(t testing.TB) { require.Less(t, 2, 1) }},
		{"NoError", func(t testing.TB) { require.NoError(t, nil) }, func(t testing.TB) { require.NoError(t, errors.New("x")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			returned, r := run(t, tc.pass)
			assert.True(t, returned, "a passing check lets the test go on")
			assert.False(t, r.stopped)
			assert.Zero(t, r.errors)
			returned, r = run(t, tc.fail)
			assert.False(t, returned, "a failing check stops the test")
			assert.True(t, r.stopped, fmt.Sprint(tc.name, " calls FailNow"))
			assert.Equal(t, 1, r.errors)
		})
	}
}
