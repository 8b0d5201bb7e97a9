package queue

// CheckDeliveries checks ds as every Store's Enqueue must before it stores anything, and
// returns the error of the first delivery at fault: ErrInvalidDelivery for one without an
// ID, an EndpointID or an Event, or, when leasing (LeasingEnqueuer.EnqueueLeased), for an
// Ordered one with a LeaseExpires; ErrDuplicateDelivery for an ID given twice in ds. Its
// nil result says nothing of the IDs already stored, which the store checks. It allocates
// only for more than 16 deliveries (a set of their IDs; fewer are compared pairwise).
func CheckDeliveries(ds []Delivery, leasing bool) error {
	var seen map[string]struct{}
	if len(ds) > 16 {
		seen = make(map[string]struct{}, len(ds))
	}
	for i := range ds {
		d := &ds[i]
		if d.ID == "" || d.EndpointID == "" || d.Event == nil || leasing && d.Ordered && !d.LeaseExpires.IsZero() {
			return ErrInvalidDelivery
		}
		if seen != nil {
			if _, dup := seen[d.ID]; dup {
				return ErrDuplicateDelivery
			}
			seen[d.ID] = struct{}{}
			continue
		}
		for j := range i {
			if ds[j].ID == d.ID {
				return ErrDuplicateDelivery
			}
		}
	}
	return nil
}
