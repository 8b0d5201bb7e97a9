// Package sqltime is how the SQL stores (dispatch/pgqueue, dispatch/sqlitequeue) keep
// times and listing positions: instants as int64 Unix nanoseconds, so that comparisons
// and keysets are integer comparisons in every database, and the listings' cursors
// (queue.Cursor) read back as such a keyset. dispatch/memqueue keeps its instants the
// same way (Zero and Nanos), though it reads them back in time.Local, not FromNanos.
package sqltime

import (
	"math"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// Zero is how the zero time.Time is stored in a NOT NULL time column: the smallest
// int64, so that it sorts before every other time, as the zero time does.
const Zero = math.MinInt64

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// Nanos returns t as Unix nanoseconds, Zero for the zero time. Instants outside what
// int64 nanoseconds hold (before 1677, after 2262) are clamped to those bounds.
func Nanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return Zero
	case t.Before(minTime):
		return math.MinInt64 + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// FromNanos is the inverse of Nanos, in UTC.
func FromNanos(n int64) time.Time {
	if n == Zero {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// After returns the keyset position a listing cursor (queue.ListFilter.After) names, as
// the (time, seq) pair a query compares with WHERE (at, seq) > (atNanos, seq): the
// position before every row for "", queue.ErrInvalidCursor for a string that is not a
// cursor or whose Seq does not fit a signed 64-bit column.
func After(cursor string) (atNanos, seq int64, err error) {
	if cursor == "" {
		return math.MinInt64, -1, nil
	}
	at, s, err := queue.ParseCursor(cursor)
	if err != nil {
		return 0, 0, err
	}
	if s > math.MaxInt64 {
		return 0, 0, queue.ErrInvalidCursor
	}
	return Nanos(at), int64(s), nil
}
