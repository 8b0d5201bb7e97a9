// Package require is assert (see there) ending the test at the first failed check, as
// testify's require does.
package require

import (
	"cmp"
	"testing"

	"github.com/hookkit/hookkit/dispatch/queuetest/internal/assert"
)

// Equal requires assert.Equal.
func Equal(t testing.TB, expected, actual any, msgAndArgs ...any) {
	t.Helper()
	if !assert.Equal(t, expected, actual, msgAndArgs...) {
		t.FailNow()
	}
}

// True requires assert.True.
func True(t testing.TB, v bool, msgAndArgs ...any) {
	t.Helper()
	if !assert.True(t, v, msgAndArgs...) {
		t.FailNow()
	}
}

// Empty requires assert.Empty.
func Empty(t testing.TB, v any, msgAndArgs ...any) {
	t.Helper()
	if !assert.Empty(t, v, msgAndArgs...) {
		t.FailNow()
	}
}

// Len requires assert.Len.
func Len(t testing.TB, v any, n int, msgAndArgs ...any) {
	t.Helper()
	if !assert.Len(t, v, n, msgAndArgs...) {
		t.FailNow()
	}
}

// Less requires assert.Less.
func Less[T cmp.Ordered](t testing.TB, a, b T, msgAndArgs ...any) {
	t.Helper()
	if !assert.Less(t, a, b, msgAndArgs...) {
		t.FailNow()
	}
}

// NoError requires assert.NoError.
func NoError(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	if !assert.NoError(t, err, msgAndArgs...) {
		t.FailNow()
	}
}
