// Package assert is the part of testify's assert that the conformance suite uses, with the
// same names and meaning, written over the standard library only: testify imports
// net/http, and queuetest must not (a store implementation imports it).
package assert

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// fail reports a failed check with the caller's message, as testify does.
func fail(t testing.TB, what string, msgAndArgs []any) bool {
	t.Helper()
	if msg := message(msgAndArgs); msg != "" {
		t.Errorf("%s\nmessage: %s", what, msg)
	} else {
		t.Error(what)
	}
	return false
}

// message formats testify's msgAndArgs: a format and its arguments, or one value.
func message(msgAndArgs []any) string {
	switch len(msgAndArgs) {
	case 0:
		return ""
	case 1:
		if s, ok := msgAndArgs[0].(string); ok {
			return s
		}
		return fmt.Sprint(msgAndArgs[0])
	}
	if f, ok := msgAndArgs[0].(string); ok {
		return fmt.Sprintf(f, msgAndArgs[1:]...)
	}
	return fmt.Sprint(msgAndArgs...)
}

// ObjectsAreEqual reports whether expected and actual are equal: byte slices by content,
// anything else by reflect.DeepEqual.
func ObjectsAreEqual(expected, actual any) bool {
	if expected == nil || actual == nil {
		return expected == actual
	}
	eb, ok1 := expected.([]byte)
	ab, ok2 := actual.([]byte)
	if ok1 && ok2 {
		return bytes.Equal(eb, ab)
	}
	return reflect.DeepEqual(expected, actual)
}

// Equal checks that expected and actual are equal (ObjectsAreEqual).
func Equal(t testing.TB, expected, actual any, msgAndArgs ...any) bool {
	t.Helper()
	if !ObjectsAreEqual(expected, actual) {
		return fail(t, fmt.Sprintf("not equal:\nexpected: %#v\nactual:   %#v", expected, actual), msgAndArgs)
	}
	return true
}

// NotEqual checks that expected and actual are not equal (ObjectsAreEqual).
func NotEqual(t testing.TB, expected, actual any, msgAndArgs ...any) bool {
	t.Helper()
	if ObjectsAreEqual(expected, actual) {
		return fail(t, fmt.Sprintf("should not be: %#v", actual), msgAndArgs)
	}
	return true
}

// True checks that v is true.
func True(t testing.TB, v bool, msgAndArgs ...any) bool {
	t.Helper()
	if !v {
		return fail(t, "should be true", msgAndArgs)
	}
	return true
}

// False checks that v is false.
func False(t testing.TB, v bool, msgAndArgs ...any) bool {
	t.Helper()
	if v {
		return fail(t, "should be false", msgAndArgs)
	}
	return true
}

// isEmpty reports whether v is nil, a zero value, or a slice, map, string or channel of
// length 0.
func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.String, reflect.Chan, reflect.Array:
		return rv.Len() == 0
	case reflect.Pointer:
		if rv.IsNil() {
			return true
		}
		return isEmpty(rv.Elem().Interface())
	}
	return rv.IsZero()
}

// Empty checks that v is empty (nil, zero, or of length 0).
func Empty(t testing.TB, v any, msgAndArgs ...any) bool {
	t.Helper()
	if !isEmpty(v) {
		return fail(t, fmt.Sprintf("should be empty, but was %#v", v), msgAndArgs)
	}
	return true
}

// NotEmpty checks that v is not empty.
func NotEmpty(t testing.TB, v any, msgAndArgs ...any) bool {
	t.Helper()
	if isEmpty(v) {
		return fail(t, fmt.Sprintf("should not be empty, but was %#v", v), msgAndArgs)
	}
	return true
}

// Zero checks that v is the zero value of its type.
func Zero(t testing.TB, v any, msgAndArgs ...any) bool {
	t.Helper()
	if v != nil && !reflect.ValueOf(v).IsZero() {
		return fail(t, fmt.Sprintf("should be zero, but was %#v", v), msgAndArgs)
	}
	return true
}

// Len checks that v (a slice, map, string, array or channel) has length n.
func Len(t testing.TB, v any, n int, msgAndArgs ...any) bool {
	t.Helper()
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.String, reflect.Chan, reflect.Array:
		if rv.Len() != n {
			return fail(t, fmt.Sprintf("should have %d item(s), but has %d: %#v", n, rv.Len(), v), msgAndArgs)
		}
		return true
	}
	return fail(t, fmt.Sprintf("cannot take the length of %#v", v), msgAndArgs)
}

// Less checks that a < b.
func Less[T cmp.Ordered](t testing.TB, a, b T, msgAndArgs ...any) bool {
	t.Helper()
	if !(a < b) {
		return fail(t, fmt.Sprintf("%v is not less than %v", a, b), msgAndArgs)
	}
	return true
}

// Contains checks that list (a slice, array or string) contains elem.
func Contains(t testing.TB, list, elem any, msgAndArgs ...any) bool {
	t.Helper()
	if s, ok := list.(string); ok {
		if e, ok := elem.(string); ok && strings.Contains(s, e) {
			return true
		}
		return fail(t, fmt.Sprintf("%q does not contain %#v", s, elem), msgAndArgs)
	}
	rv := reflect.ValueOf(list)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		for i := range rv.Len() {
			if ObjectsAreEqual(rv.Index(i).Interface(), elem) {
				return true
			}
		}
	}
	return fail(t, fmt.Sprintf("%#v does not contain %#v", list, elem), msgAndArgs)
}

// ElementsMatch checks that the slices a and b hold the same elements, each as many
// times, in any order.
func ElementsMatch[E any](t testing.TB, a, b []E, msgAndArgs ...any) bool {
	t.Helper()
	used := make([]bool, len(b))
	ok := len(a) == len(b)
	for _, x := range a {
		found := false
		for j, y := range b {
			if !used[j] && ObjectsAreEqual(x, y) {
				used[j], found = true, true
				break
			}
		}
		ok = ok && found
	}
	if !ok {
		return fail(t, fmt.Sprintf("elements differ:\nexpected: %#v\nactual:   %#v", a, b), msgAndArgs)
	}
	return true
}

// NoError checks that err is nil.
func NoError(t testing.TB, err error, msgAndArgs ...any) bool {
	t.Helper()
	if err != nil {
		return fail(t, fmt.Sprintf("unexpected error: %v", err), msgAndArgs)
	}
	return true
}

// ErrorIs checks that errors.Is(err, target).
func ErrorIs(t testing.TB, err, target error, msgAndArgs ...any) bool {
	t.Helper()
	if !errors.Is(err, target) {
		return fail(t, fmt.Sprintf("error %v is not %v", err, target), msgAndArgs)
	}
	return true
}
