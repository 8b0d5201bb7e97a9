package queue_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// TestCheckDeliveries pins what every store's Enqueue refuses before storing anything,
// for small batches (compared pairwise) and large ones (a set of IDs), and that the first
// delivery at fault decides the error.
func TestCheckDeliveries(t *testing.T) {
	d := func(id string) queue.Delivery { return queuetest.Delivery(t, id, "ep", queuetest.T0) }
	many := func(n int) []queue.Delivery {
		ds := make([]queue.Delivery, n)
		for i := range ds {
			ds[i] = d(fmt.Sprint("d", i))
		}
		return ds
	}
	noID, noEndpoint, noEvent := d("x"), d("y"), d("z")
	noID.ID, noEndpoint.EndpointID, noEvent.Event = "", "", nil
	heldOrdered := d("o")
	heldOrdered.Ordered, heldOrdered.LeaseExpires = true, queuetest.T0.Add(time.Minute)
	bigDup := many(20)
	bigDup[19].ID = bigDup[3].ID
	for _, tc := range []struct {
		name    string
		ds      []queue.Delivery
		leasing bool
		want    error
	}{
		{"valid", many(3), false, nil},
		{"valid large", many(40), true, nil},
		{"empty", nil, false, nil},
		{"no ID", []queue.Delivery{d("a"), noID}, false, queue.ErrInvalidDelivery},
		{"no endpoint", []queue.Delivery{noEndpoint}, false, queue.ErrInvalidDelivery},
		{"no event", []queue.Delivery{noEvent}, false, queue.ErrInvalidDelivery},
		{"duplicate in a small batch", []queue.Delivery{d("a"), d("b"), d("a")}, false, queue.ErrDuplicateDelivery},
		{"duplicate in a large batch", bigDup, false, queue.ErrDuplicateDelivery},
		{"ordered with a lease, leasing", []queue.Delivery{d("a"), heldOrdered}, true, queue.ErrInvalidDelivery},
		{"ordered with a lease, plain Enqueue", []queue.Delivery{d("a"), heldOrdered}, false, nil},
		{"first fault: duplicate before invalid", []queue.Delivery{d("a"), d("a"), noID}, false, queue.ErrDuplicateDelivery},
		{"first fault: invalid before duplicate", []queue.Delivery{noEvent, d("a"), d("a")}, false, queue.ErrInvalidDelivery},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := queue.CheckDeliveries(tc.ds, tc.leasing)
			if tc.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
	small := many(16)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = queue.CheckDeliveries(small, true) }), "no allocation up to 16 deliveries")
}
