package queue

import (
	"context"
	"errors"
	"fmt"
)

// StateTries bounds the compare-and-set attempts of one UpdateEndpointState: after as
// many lost races it gives up with ErrVersionConflict.
const StateTries = 8

// StateCAS says how UpdateEndpointState changes one endpoint's state.
type StateCAS struct {
	// From is the record to decide from first, perhaps stale (a cached copy of the
	// endpoint's): its Version is the one the first compare-and-set compares. nil: the
	// record is read with GetEndpoints.
	From *Endpoint
	// Decide returns the state to write given the endpoint's current record, or false to
	// write nothing. After a lost race it is called again with the record that won.
	// Required.
	Decide func(cur Endpoint) (StateUpdate, bool)
	// Seen, when not nil, is called with every record SetEndpointState returns: the one
	// written, or after a lost race the current one (before Decide is called with it),
	// so that a cache follows what the registry holds.
	Seen func(Endpoint)
}

// UpdateEndpointState changes the state of the endpoint id in reg by compare-and-set
// (Registry.SetEndpointState) on the version of the record c.Decide decided from, deciding
// again from the current record after each lost race, at most StateTries times. It
// returns the record written; the record c.Decide was given, unchanged, when it wrote
// nothing; ErrNotFound (and a zero record) when reg has no such endpoint; after
// StateTries lost races, the current record with an error wrapping ErrVersionConflict.
// Any other error of reg comes back as it is, with a zero record.
func UpdateEndpointState(ctx context.Context, reg Registry, id string, c StateCAS) (Endpoint, error) {
	var cur Endpoint
	if c.From != nil {
		cur = *c.From
	} else {
		recs, err := reg.GetEndpoints(ctx, id)
		if err != nil {
			return Endpoint{}, err
		}
		if len(recs) == 0 {
			return Endpoint{}, ErrNotFound
		}
		cur = recs[0]
	}
	for range StateTries {
		st, ok := c.Decide(cur)
		if !ok {
			return cur, nil
		}
		next, err := reg.SetEndpointState(ctx, id, cur.Version, st)
		if err != nil && !errors.Is(err, ErrVersionConflict) {
			return Endpoint{}, err
		}
		if c.Seen != nil {
			c.Seen(next)
		}
		if err == nil {
			return next, nil
		}
		cur = next
	}
	return cur, fmt.Errorf("%w: %q changed %d times while being written", ErrVersionConflict, id, StateTries)
}
