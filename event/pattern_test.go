package event_test

import (
	"testing"

	"github.com/hookkit/hookkit/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"*", []string{"envelope-sent", "a"}, nil},
		{"envelope-*", []string{"envelope-sent", "envelope-completed", "envelope-"}, []string{"envelope", "recipient-sent", "Envelope-sent"}},
		{"envelope-sent", []string{"envelope-sent"}, []string{"envelope-sent2", "envelope-sen", "envelope-*"}},
	}
	for _, tt := range tests {
		p, err := event.ParsePattern(tt.pattern)
		require.NoError(t, err)
		assert.Equal(t, tt.pattern, p.String())
		for _, s := range tt.match {
			assert.True(t, p.Match(s), "%s should match %s", tt.pattern, s)
		}
		for _, s := range tt.noMatch {
			assert.False(t, p.Match(s), "%s should not match %s", tt.pattern, s)
		}
	}
}

func TestParsePatternRejects(t *testing.T) {
	for _, s := range []string{"", "**", "*-sent", "env*lope", "envelope-**", " envelope", "-x*", "a b"} {
		_, err := event.ParsePattern(s)
		assert.ErrorIs(t, err, event.ErrInvalidPattern, "%q", s)
	}
}

func TestPatternSpecificity(t *testing.T) {
	exact, _ := event.ParsePattern("envelope-sent")
	long, _ := event.ParsePattern("envelope-s*")
	short, _ := event.ParsePattern("envelope-*")
	star, _ := event.ParsePattern("*")
	assert.Greater(t, exact.Specificity(), long.Specificity())
	assert.Greater(t, long.Specificity(), short.Specificity())
	assert.Greater(t, short.Specificity(), star.Specificity())
	assert.Equal(t, 0, star.Specificity())
	assert.False(t, exact.IsWildcard())
	assert.True(t, short.IsWildcard())
	var zero event.Pattern
	assert.False(t, zero.Match(""))
	assert.False(t, zero.Match("a"))
}

func TestFilter(t *testing.T) {
	f, err := event.NewFilter("envelope-completed", "recipient-*")
	require.NoError(t, err)
	assert.True(t, f.Match("envelope-completed"))
	assert.True(t, f.Match("recipient-sent"))
	assert.False(t, f.Match("envelope-sent"))
	assert.Equal(t, "envelope-completed,recipient-*", f.String())
	assert.Equal(t, []string{"envelope-completed", "recipient-*"}, f.Patterns())

	all, err := event.NewFilter()
	require.NoError(t, err)
	assert.True(t, all.Match("anything"))
	assert.Equal(t, "*", all.String())
	var zero event.Filter
	assert.True(t, zero.Match("anything"))
	star := event.MustFilter("envelope-sent", "*")
	assert.True(t, star.Match("x"))

	_, err = event.NewFilter("ok", "bad pattern")
	assert.ErrorIs(t, err, event.ErrInvalidPattern)
	assert.Panics(t, func() { event.MustFilter("*x") })
}
