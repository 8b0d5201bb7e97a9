package main

import (
	"context"
	"errors"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// listPageSize is how many deliveries queue pending/dead read from the store at a time.
const listPageSize = 500

// deliveryJSON is one line of queue pending and queue dead.
type deliveryJSON struct {
	ID         string              `json:"id"`
	Event      string              `json:"event"`
	Type       string              `json:"type"`
	Endpoint   string              `json:"endpoint"`
	Ordered    bool                `json:"ordered,omitempty"`
	Created    time.Time           `json:"created"`
	Due        *time.Time          `json:"due,omitempty"`
	Leased     bool                `json:"leased,omitempty"`
	DeadAt     *time.Time          `json:"dead_at,omitempty"`
	DeadReason string              `json:"reason,omitempty"`
	Attempts   []storedAttemptJSON `json:"attempts"`
}

// storedAttemptJSON is one stored attempt in queue's output.
type storedAttemptJSON struct {
	Attempt    int       `json:"attempt"`
	Start      time.Time `json:"start"`
	Duration   string    `json:"duration"`
	Status     int       `json:"status,omitempty"`
	Class      string    `json:"class,omitempty"`
	Error      string    `json:"error,omitempty"`
	RetryAfter string    `json:"retry_after,omitempty"`
}

func runQueue(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "queue",
		`hookkit queue (stats|pending|dead|requeue) --store DSN [--endpoint ID] [--id ID]`,
		`Looks into a delivery store and requeues dead letters.

  stats    prints {"pending":N,"leased":N,"dead":N}
  pending  prints each delivery waiting or in flight, earliest due first, one JSON line each
  dead     prints each dead letter, oldest first, with its reason and every attempt
  requeue  makes dead letters pending again, due now, and prints {"requeued":N}: the one
           --id names, those of --endpoint, or (neither given) all of them

--endpoint selects one endpoint's deliveries; --id one delivery (by its delivery id, as
pending and dead print it).`)
	var storeDSN, endpointID, id string
	fs.StringVar(&storeDSN, "store", "", storeUsage)
	fs.StringVar(&endpointID, "endpoint", "", "only the deliveries of the endpoint with this `ID`")
	fs.StringVar(&id, "id", "", "only the delivery with this `ID`")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("missing action: stats, pending, dead or requeue")
	}
	if len(pos) > 1 {
		return unexpectedArgument(pos[1:])
	}
	action := pos[0]
	switch action {
	case "stats", "pending", "dead", "requeue":
	default:
		return usagef("unknown action %q (want stats, pending, dead or requeue)", action)
	}
	if action == "requeue" && endpointID != "" && id != "" {
		return usagef("requeue takes --id (one dead letter) or --endpoint (all of an endpoint's), not both")
	}
	if action == "stats" && (endpointID != "" || id != "") {
		return usagef("stats counts the whole store: --endpoint and --id are for pending, dead and requeue")
	}
	st, err := openStore(ctx, storeDSN)
	if err != nil {
		return err
	}
	defer st.close()
	now := time.Now()
	switch action {
	case "stats":
		s, err := st.Store.Stats(ctx, now)
		if err != nil {
			return err
		}
		return printJSON(e, s)
	case "requeue":
		n, err := st.Store.Requeue(ctx, queue.Selector{ID: id, EndpointID: endpointID}, now)
		if errors.Is(err, queue.ErrNotFound) {
			return errors.New("no dead letter has that --id")
		}
		if err != nil {
			return err
		}
		return printJSON(e, map[string]int{"requeued": n})
	}
	list := st.Store.ListPending
	if action == "dead" {
		list = st.Store.ListDead
	}
	f := queue.ListFilter{EndpointID: endpointID, Limit: listPageSize}
	for {
		p, err := list(ctx, f)
		if err != nil {
			return err
		}
		for i := range p.Deliveries {
			d := &p.Deliveries[i]
			if id != "" && d.ID != id {
				continue
			}
			if err := printJSON(e, deliveryLine(d, now)); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		f.After = p.Next
	}
}

// deliveryLine is d as queue pending and queue dead print it.
func deliveryLine(d *queue.Delivery, now time.Time) deliveryJSON {
	out := deliveryJSON{ID: d.ID, Endpoint: d.EndpointID, Ordered: d.Ordered, Created: d.Created.UTC(),
		Attempts: make([]storedAttemptJSON, 0, len(d.Attempts))}
	if d.Event != nil {
		out.Event, out.Type = d.Event.ID(), d.Event.Type()
	}
	if d.DeadReason != "" {
		at := d.DeadAt.UTC()
		out.DeadAt, out.DeadReason = &at, d.DeadReason
	} else {
		due := d.Due.UTC()
		out.Due = &due
		out.Leased = d.Lease != "" && d.LeaseExpires.After(now)
	}
	for _, a := range d.Attempts {
		al := storedAttemptJSON{Attempt: a.Number, Start: a.Start.UTC(), Duration: a.Duration.String(), Status: a.Status,
			Class: a.Class, Error: a.Error}
		if a.RetryAfter > 0 {
			al.RetryAfter = a.RetryAfter.String()
		}
		out.Attempts = append(out.Attempts, al)
	}
	return out
}
