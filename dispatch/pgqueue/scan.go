package pgqueue

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/sqltime"
)

// eventCol is the position of the event in dcols: read raw (no copy by pgx; one by
// UnmarshalBinary).
const eventCol = 3

// row is the scratch space of scanDelivery, reused for every row of a result.
type row struct {
	seq, created, due  int64
	roundStart, nAtt   int32
	lease, deadReason  pgtype.Text
	leaseExp, deadAt   pgtype.Int8
	number, start, dur []int64
	status             []int32
	class, errText     []string
	retryAfter         []int64
	dest               []any
}

// scanDelivery reads the columns dcols and the attempts (attemptsOf) of the current
// row of rows into d.
func (r *row) scanDelivery(rows pgx.Rows, d *queue.Delivery) error {
	if r.dest == nil {
		r.dest = []any{&r.seq, nil, nil, nil, nil, &r.created, &r.due, &r.roundStart,
			&r.lease, &r.leaseExp, &r.deadReason, &r.deadAt, &r.nAtt,
			&r.number, &r.start, &r.dur, &r.status, &r.class, &r.errText, &r.retryAfter}
	}
	r.dest[1], r.dest[2], r.dest[4] = &d.ID, &d.EndpointID, &d.Ordered
	if err := rows.Scan(r.dest...); err != nil {
		return fmt.Errorf("hookkit/pgqueue: read delivery: %w", err)
	}
	enc := new(event.Encoded)
	if err := enc.UnmarshalBinary(rows.RawValues()[eventCol]); err != nil {
		return fmt.Errorf("hookkit/pgqueue: delivery %s: %w", d.ID, err)
	}
	d.Event = enc
	d.Seq = uint64(r.seq)
	d.Created = sqltime.FromNanos(r.created)
	d.Due = sqltime.FromNanos(r.due)
	d.RoundStart = int(r.roundStart)
	d.Lease = r.lease.String
	if r.leaseExp.Valid {
		d.LeaseExpires = sqltime.FromNanos(r.leaseExp.Int64)
	}
	d.DeadReason = r.deadReason.String
	if r.deadAt.Valid {
		d.DeadAt = sqltime.FromNanos(r.deadAt.Int64)
	}
	n := len(r.number)
	if n != int(r.nAtt) || len(r.start) != n || len(r.dur) != n || len(r.status) != n ||
		len(r.class) != n || len(r.errText) != n || len(r.retryAfter) != n {
		return fmt.Errorf("hookkit/pgqueue: delivery %s: %d attempts stored, %d recorded", d.ID, n, r.nAtt)
	}
	if n > 0 {
		d.Attempts = make([]queue.Attempt, n)
		for i := range d.Attempts {
			d.Attempts[i] = queue.Attempt{Number: int(r.number[i]), Start: sqltime.FromNanos(r.start[i]),
				Duration: time.Duration(r.dur[i]), Status: int(r.status[i]), Class: r.class[i],
				Error: r.errText[i], RetryAfter: time.Duration(r.retryAfter[i])}
		}
	}
	return nil
}

// scanDeliveries reads every row of rows (dcols and the attempts) and closes it.
func scanDeliveries(rows pgx.Rows, capHint int) ([]queue.Delivery, error) {
	defer rows.Close()
	var out []queue.Delivery
	var r row
	for rows.Next() {
		if out == nil {
			out = make([]queue.Delivery, 0, capHint)
		}
		out = append(out, queue.Delivery{})
		if err := r.scanDelivery(rows, &out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: read deliveries: %w", err)
	}
	return out, nil
}
