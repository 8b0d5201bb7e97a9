package sqltime_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/internal/sqltime"
)

func TestNanosRoundTrips(t *testing.T) {
	at := time.Date(2026, 12, 1, 23, 59, 58, 123456789, time.FixedZone("x", 3600))
	got := sqltime.FromNanos(sqltime.Nanos(at))
	assert.True(t, got.Equal(at), "%v != %v", got, at)
	assert.Equal(t, time.UTC, got.Location())

	assert.Equal(t, int64(sqltime.Zero), sqltime.Nanos(time.Time{}))
	assert.True(t, sqltime.FromNanos(sqltime.Zero).IsZero())
	assert.Less(t, sqltime.Nanos(time.Time{}), sqltime.Nanos(time.Unix(-1<<40, 0)), "the zero time sorts first")
}

func TestNanosClampsWhatInt64CannotHold(t *testing.T) {
	assert.Equal(t, int64(math.MinInt64+1), sqltime.Nanos(time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)),
		"before 1677: the smallest time that is not Zero")
	assert.Equal(t, int64(math.MaxInt64), sqltime.Nanos(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)))
}

func TestAfterReadsACursorAsAKeyset(t *testing.T) {
	at, seq, err := sqltime.After("")
	require.NoError(t, err)
	assert.Equal(t, int64(math.MinInt64), at, "before every row, the zero time's included")
	assert.Equal(t, int64(-1), seq)

	when := time.Date(2026, 12, 2, 0, 0, 0, 42, time.UTC)
	at, seq, err = sqltime.After(queue.Cursor(when, 17))
	require.NoError(t, err)
	assert.Equal(t, when.UnixNano(), at)
	assert.Equal(t, int64(17), seq)

	for _, bad := range []string{"x", "1.2", "1.2.x", queue.Cursor(when, math.MaxInt64+1)} {
		_, _, err := sqltime.After(bad)
		assert.ErrorIs(t, err, queue.ErrInvalidCursor, bad)
	}
}
