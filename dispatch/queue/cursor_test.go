package queue_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// TestCursorRoundTrip: a cursor gives back the instant, to the nanosecond (before 1970
// too), and the Seq; anything else is ErrInvalidCursor.
func TestCursorRoundTrip(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600)),
		time.Date(1901, 1, 2, 3, 4, 5, 1, time.UTC),
		{},
	} {
		got, seq, err := queue.ParseCursor(queue.Cursor(at, 42))
		require.NoError(t, err)
		assert.True(t, got.Equal(at), "%v != %v", got, at)
		assert.Equal(t, uint64(42), seq)
	}
	for _, bad := range []string{"", "1.2", "a.b.c", "1.1000000000.3", "1.-1.3", "1.2.-3", "1.2.3.4"} {
		_, _, err := queue.ParseCursor(bad)
		assert.ErrorIs(t, err, queue.ErrInvalidCursor, bad)
	}
}
