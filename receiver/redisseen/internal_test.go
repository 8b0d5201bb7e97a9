package redisseen

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestMillisRoundsUpToAtLeastOne(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{
		{math.MinInt64, 1},
		{-time.Second, 1},
		{0, 1},
		{1, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{1500 * time.Microsecond, 2},
		{200 * time.Millisecond, 200},
		{time.Second - 1, 1000},
		{2 * time.Minute, 120_000},
		{math.MaxInt64, math.MaxInt64/int64(time.Millisecond) + 1},
	} {
		assert.Equal(t, c.want, millis(c.d), "millis(%v)", c.d)
	}
}

func TestTokensAre128RandomBits(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := newToken()
		assert.Regexp(t, `^[0-9a-f]{32}$`, tok)
		seen[tok] = true
	}
	assert.Len(t, seen, 1000)
}
