package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// publishBatch is how many events of an NDJSON stream are stored in one Enqueue (one
// transaction).
const publishBatch = 500

// maxNDJSONLine bounds one line of publish's NDJSON input.
const maxNDJSONLine = 4 << 20

func runPublish(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "publish",
		`hookkit publish --store DSN (--endpoints FILE | --registry) (--type T [--data JSON|@FILE] [--id ID] | -)`,
		`Fans one event (--type, --data, --id) out to every endpoint of FILE whose filter matches
its type, and stores the deliveries durably in the store; with "-", reads events from stdin
as NDJSON, one {"type":…,"data":…,"id":…} a line (data and id optional). It sends nothing:
"hookkit worker" delivers. Prints {"events":N,"deliveries":M} on stdout and exits 0 only
once every delivery is stored (committed). Events from stdin are stored 500 at a time: on
an error, what was stored before it stays stored, and the counts printed say how much.

FILE is JSON: {"endpoints":[{"id":…,"url":…,"scheme":…,"secrets":[…],"filter":[…],
"ordered":bool,"bearer":…,"basic":"user:pass","oauth2":{"token_url":…,"client_id":…,
"client_secret":…,"scopes":[…],"params":{…},"auth_style":"header|params"},"timeout":"10s"}]}
(scheme: standard by default; filter: every type by default; timeout of each attempt: 30s by
default); errors in it name the endpoint and the field. Its URLs are checked by "hookkit worker", which sends.

With --registry (a postgres:// store) instead of --endpoints, the endpoints are those of the
store's shared registry ("hookkit endpoint import"): each event goes to the endpoints whose
filter matches its type and that are not disabled (one indexed lookup per event), for
"hookkit worker --registry" to deliver. No registry key is needed: nothing secret is read.`)
	var storeDSN, endpointsFile string
	var f sendFlags
	fs.StringVar(&storeDSN, "store", "", storeUsage)
	fs.StringVar(&endpointsFile, "endpoints", "", "endpoints `FILE` (JSON, see above)")
	var fromRegistry bool
	fs.BoolVar(&fromRegistry, "registry", false, "fan out to the endpoints of the store's registry instead of --endpoints (postgres://… only)")
	fs.StringVar(&f.typ, "type", "", "event `TYPE`, e.g. envelope-completed")
	fs.StringVar(&f.data, "data", "{}", "event data: a `JSON` object, or @FILE to read it from a file")
	fs.StringVar(&f.id, "id", "", "event `ID` (default a new random id)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	fromStdin := false
	switch {
	case len(pos) == 1 && pos[0] == "-":
		fromStdin = true
	case len(pos) > 0:
		return unexpectedArgument(pos)
	}
	if fromStdin && (f.typ != "" || f.id != "" || f.data != "{}") {
		return usagef(`"-" reads the events from stdin: --type, --data and --id are for one event`)
	}
	if !fromStdin && f.typ == "" {
		return usagef(`--type is required (or "-" to read NDJSON events from stdin)`)
	}
	if err := checkEndpointsSource(endpointsFile, fromRegistry); err != nil {
		return err
	}
	var subs []dispatch.Subscription
	if !fromRegistry {
		// publish never sends: the worker, with its own --allow-http/--allow-private,
		// checks where the deliveries may go. Here the URLs only need to be well formed.
		if subs, err = loadEndpoints(endpointsFile, endpointsOptions{allowHTTP: true, allowPrivate: true}); err != nil {
			return err
		}
	}
	var ev *event.Event
	if !fromStdin {
		if ev, err = buildEvent(e, &f); err != nil {
			return err
		}
	}
	st, reg, err := openStoreFor(ctx, storeDSN, fromRegistry)
	if err != nil {
		return err
	}
	defer st.close()
	d, err := fanOutDispatcher(st.Store, reg, subs)
	if err != nil {
		return err
	}
	var n publishCount
	if fromStdin {
		err = publishStream(ctx, e, d, &n)
	} else {
		err = publishEvents(ctx, d, []*event.Event{ev}, &n)
	}
	if perr := printJSON(e, n); perr != nil && err == nil {
		err = perr
	}
	return err
}

// publishCount is publish's output: what was stored.
type publishCount struct {
	Events     int `json:"events"`
	Deliveries int `json:"deliveries"`
}

// fanOutDispatcher returns a dispatcher used only for its fan-out (never started): its
// Sender never dials. With a registry, its fan-out is the registry's MatchEndpoints (no
// spec is opened: no key needed) and subs is empty.
func fanOutDispatcher(st queue.Store, reg queue.Registry, subs []dispatch.Subscription) (*dispatch.Dispatcher, error) {
	s, err := sender.New(sender.Config{AllowHTTP: true, AllowPrivate: true})
	if err != nil {
		return nil, err
	}
	d, err := dispatch.New(s, st, dispatch.Config{Registry: reg})
	if err != nil {
		return nil, err
	}
	for _, sub := range subs {
		if err := d.Subscribe(sub); err != nil {
			return nil, usagef("--endpoints: endpoint %q: %v", sub.Endpoint.ID, err)
		}
	}
	return d, nil
}

// publishEvents stores the deliveries of all the events in one call (PublishMany: one
// Enqueue, all or none).
func publishEvents(ctx context.Context, d *dispatch.Dispatcher, evs []*event.Event, n *publishCount) error {
	stored, err := d.PublishMany(ctx, evs...)
	var fe *dispatch.FanOutError
	switch {
	case errors.As(err, &fe):
		id := ""
		if ev := evs[fe.Index]; ev != nil {
			id = ev.ID
		}
		if d.Registry() != nil {
			return fmt.Errorf("event %q: matching the registry's endpoints: %w", id, fe.Err)
		}
		return usagef("event %q: %v", id, fe.Err)
	case err != nil && len(evs) == 1:
		return fmt.Errorf("storing the event's deliveries: %w", err)
	case err != nil:
		return fmt.Errorf("storing the deliveries of %d events: %w", len(evs), err)
	}
	n.Events += len(evs)
	n.Deliveries += stored
	return nil
}

// ndjsonEvent is one line of publish's input.
type ndjsonEvent struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
	ID   string          `json:"id"`
}

// publishStream reads NDJSON events from stdin and stores them publishBatch at a time.
func publishStream(ctx context.Context, e *env, d *dispatch.Dispatcher, n *publishCount) error {
	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, 0, 64<<10), maxNDJSONLine)
	var batch []*event.Event
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		ev, err := ndjsonLine(b)
		if err != nil {
			return usagef("stdin line %d: %v", line, err)
		}
		batch = append(batch, ev)
		if len(batch) == publishBatch {
			if err := publishEvents(ctx, d, batch, n); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return usagef("stdin line %d: longer than %d MiB", line+1, maxNDJSONLine>>20)
		}
		return fmt.Errorf("reading stdin: %w", err)
	}
	return publishEvents(ctx, d, batch, n)
}

// ndjsonLine parses one input line into an event.
func ndjsonLine(b []byte) (*event.Event, error) {
	var le ndjsonEvent
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&le); err != nil {
		return nil, fmt.Errorf(`want {"type":…,"data":{…},"id":…}: %s`, jsonFieldError(err))
	}
	if dec.More() {
		return nil, errors.New("one JSON object a line")
	}
	if le.Type == "" {
		return nil, errors.New(`"type" is required`)
	}
	if err := event.ValidateType(le.Type); err != nil {
		return nil, err
	}
	var data any
	if len(le.Data) > 0 && !bytes.Equal(le.Data, []byte("null")) {
		if le.Data[0] != '{' {
			return nil, errors.New(`"data" must be a JSON object`)
		}
		data = le.Data
	}
	ev, err := event.New(le.Type, data)
	if err != nil {
		return nil, err
	}
	if le.ID != "" {
		if err := event.ValidateID(le.ID); err != nil {
			return nil, err
		}
		ev.ID = le.ID
	}
	return ev, nil
}

// printJSON prints v as one line of JSON on stdout.
func printJSON(e *env, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, string(b))
	return err
}
