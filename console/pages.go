package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// timeFormat is how the console shows times: UTC, to the millisecond.
const timeFormat = "2006-01-02 15:04:05.000 UTC"

// maxCursor bounds the length of a cursor in a query (queue.Cursor makes ~35 bytes).
const maxCursor = 64

// historyDeliveries bounds the deliveries whose histories make an endpoint's chart when
// there is no Recorder.
const historyDeliveries = 20

// layout is what every page has.
type layout struct {
	Title    string
	Heading  string
	Base     string
	CSRF     string
	CSS      template.CSS
	Flash    *flashView
	Crumbs   []crumb
	Detached bool
	Registry bool // the endpoints and their states are a shared registry's
	InFlight bool // the source counts attempts in flight (this process's)
	Now      string
}

type flashView struct{ Class, Text string }

type crumb struct{ Href, Text string }

// counts are an endpoint's (or the store's) counts as shown: "≥ N" when capped.
type counts struct {
	Pending, Leased, Dead string
	HasDead               bool
}

// endpointRow is one endpoint as the pages show it: never its URL beyond the host, nor its
// keys, credentials or headers.
type endpointRow struct {
	ID            string
	Href          string
	Host          string
	Subscribed    bool // subscribed to the source, or in its registry
	Known         bool // its state is known here (not Detached)
	State         string
	StateClass    string
	PausedUntil   string
	Failures      string // "—" when not known
	InFlight      string // "unknown" when not known here
	InFlightKnown bool
	MaxInFlight   string
	Ordered       bool
	Reason        string // why the registry's state last changed
	Updated       string // when it did
	Counts        counts
	LastProblem   string
	Chart         *chart
	active        bool // its state, known here, is active (dispatch.EndpointActive, queue.EndpointActive)
	disabled      bool // its state, known here, is disabled
}

type overviewPage struct {
	layout
	Totals    counts
	Endpoints []endpointRow
	Chart     *chart
	Next      string // the next page of the registry's endpoints
	First     string // the first page, when not on it
}

type deliveryRow struct {
	ID        string
	Href      string
	EventType string
	EventID   string
	When      string // due (pending) or dead at
	Leased    string // until when, while leased
	Reason    string
	Attempts  int
	Status    string
	LastError string
	Requeue   string // the action, for a dead letter
	At        string // its position in its listing (queue.Cursor), which the requeue form sends
}

type endpointPage struct {
	layout
	E            endpointRow
	Pending      []deliveryRow
	Dead         []deliveryRow
	PendingNext  string
	DeadNext     string
	PendingFirst string // the first page's link, when not on it
	DeadFirst    string
	RequeueAll   string
	Enable       string
	CanEnable    bool
	Disable      string // the action, when the source can disable
	CanDisable   bool
}

type attemptRow struct {
	Number     int
	Start      string
	Duration   string
	Status     string
	Class      string
	OutClass   string
	Error      string
	Problem    string
	RetryAfter string
}

type deliveryPage struct {
	layout
	D          deliveryRow
	Dead       bool
	Ordered    bool
	Created    string
	Due        string
	DeadAt     string
	RoundStart int
	Attempts   []attemptRow
}

type errorPage struct {
	layout
	Status  int
	Message string
}

// page fills the layout of a page for r.
func (c *Console) page(w http.ResponseWriter, r *http.Request, heading string, crumbs ...crumb) layout {
	s := c.session(w, r)
	l := layout{Title: c.cfg.Title, Heading: heading, Base: c.base(r), CSRF: c.csrfToken(s), CSS: c.css,
		Crumbs: crumbs, Detached: c.detached, Registry: c.reg != nil, InFlight: c.local != nil, Now: c.cfg.Now().UTC().Format(timeFormat)}
	if kind, msg := c.takeFlash(w, r, s); kind != 0 {
		l.Flash = &flashView{Class: "ok", Text: msg}
		if kind == flashError {
			l.Flash.Class = "error"
		}
	}
	return l
}

// render writes a page with the given status.
func (c *Console) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	if err := c.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		c.log.Error("hookkit/console: rendering a page", "page", name, "err", err) // a bug: the templates are fixed
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	l := c.page(w, r, http.StatusText(status), crumb{Href: c.base(r) + "/", Text: "Endpoints"})
	c.render(w, status, "error", errorPage{layout: l, Status: status, Message: msg})
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	c.fail(w, r, http.StatusNotFound, "There is no such page, endpoint or delivery (a dead letter that was requeued is pending again).")
}

func (c *Console) badRequest(w http.ResponseWriter, r *http.Request, msg string) {
	c.fail(w, r, http.StatusBadRequest, msg)
}

func (c *Console) forbidden(w http.ResponseWriter, r *http.Request, msg string) {
	c.fail(w, r, http.StatusForbidden, msg)
}

func (c *Console) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	c.fail(w, r, http.StatusMethodNotAllowed, "This address answers "+allow+" only.")
}

// storeError answers a store failure: 400 for a cursor that is not one, else 500 with a
// message that does not echo the store's (which may name a host).
func (c *Console) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, queue.ErrInvalidCursor):
		c.badRequest(w, r, "The page cursor is not valid: start again from the first page.")
	case errors.Is(err, queue.ErrNotFound):
		c.notFound(w, r)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		c.fail(w, r, http.StatusServiceUnavailable, "The store did not answer in time.")
	default:
		c.log.Error("hookkit/console: store failed", "path", r.URL.Path, "err", err)
		c.fail(w, r, http.StatusInternalServerError, "The store failed; see the server's log.")
	}
}

// endpointHref is the link to an endpoint's page.
func endpointHref(base, id string) string { return base + "/endpoints/" + url.PathEscape(id) }

// host is the host (and port) of an endpoint URL: never its user information, path or query.
func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Host
}

// endpointsByID returns the source's endpoints by ID.
func (c *Console) endpointsByID() map[string]dispatch.EndpointStatus {
	m := map[string]dispatch.EndpointStatus{}
	for _, st := range c.src.Endpoints() {
		m[st.Subscription.Endpoint.ID] = st
	}
	return m
}

// row makes the row of an endpoint; st is zero (and subscribed false) for one known only
// from the store's deliveries.
func (c *Console) row(base, id string, st dispatch.EndpointStatus, subscribed bool) endpointRow {
	e := endpointRow{ID: id, Href: endpointHref(base, id), Subscribed: subscribed, Failures: "—", InFlight: "unknown"}
	if !subscribed {
		e.Host, e.State, e.StateClass = "—", "not subscribed", "unknown"
		if c.reg != nil {
			e.State = "not in the registry"
		}
		return e
	}
	e.Host = host(st.Subscription.Endpoint.URL)
	e.Ordered = st.Subscription.Ordered
	if c.detached {
		e.State, e.StateClass = "unknown here", "unknown"
		return e
	}
	e.Known, e.InFlightKnown = true, true
	e.State, e.StateClass = st.State.String(), st.State.String()
	e.active, e.disabled = st.State == dispatch.EndpointActive, st.State == dispatch.EndpointDisabled
	e.Failures, e.InFlight = strconv.Itoa(st.Failures), strconv.Itoa(st.InFlight)
	e.MaxInFlight = strconv.Itoa(st.Subscription.MaxInFlight)
	if st.State == dispatch.EndpointPaused && !st.PausedUntil.IsZero() {
		e.PausedUntil = st.PausedUntil.UTC().Format(timeFormat)
	}
	return e
}

// regRow makes the row of an endpoint from its registry record: the shared state, and the
// attempts in flight in this process when the source counts them (a dispatcher: an
// endpoint it does not cache has none in flight here, as it never evicts a busy one).
func (c *Console) regRow(base string, rec queue.Endpoint) endpointRow {
	state := rec.State
	if state == "" {
		state = queue.EndpointActive
	}
	e := endpointRow{ID: rec.ID, Href: endpointHref(base, rec.ID), Subscribed: true, Known: true, State: string(state),
		StateClass: string(state), Failures: strconv.Itoa(rec.Failures), InFlight: "unknown", Ordered: rec.Ordered,
		Reason: rec.Reason, MaxInFlight: "the dispatcher's default",
		active: state == queue.EndpointActive, disabled: state == queue.EndpointDisabled}
	if rec.MaxInFlight > 0 {
		e.MaxInFlight = strconv.Itoa(rec.MaxInFlight)
	}
	if (state == queue.EndpointPaused || state == queue.EndpointProbing) && !rec.PausedUntil.IsZero() {
		e.PausedUntil = rec.PausedUntil.UTC().Format(timeFormat)
	}
	if !rec.UpdatedAt.IsZero() {
		e.Updated = rec.UpdatedAt.UTC().Format(timeFormat)
	}
	var opened bool
	e.Host, opened = c.specHost(rec)
	if c.local != nil {
		st, cached := c.local.Endpoint(rec.ID)
		e.InFlight, e.InFlightKnown = strconv.Itoa(st.InFlight), true
		if cached {
			e.MaxInFlight = strconv.Itoa(st.Subscription.MaxInFlight)
			if !opened {
				e.Host = host(st.Subscription.Endpoint.URL)
			}
		}
	}
	return e
}

// specHost returns the host of the URL in an endpoint's stored spec, and whether the spec
// opened; nothing else of the spec is used.
func (c *Console) specHost(rec queue.Endpoint) (string, bool) {
	spec, err := c.codec.Open(rec.ID, rec.Spec)
	switch {
	case err == nil:
		return host(spec.URL), true
	case errors.Is(err, dispatch.ErrSpecKey) && (c.codec.Key != nil || len(c.codec.OldKeys) > 0):
		return "sealed under another key", false
	case errors.Is(err, dispatch.ErrSpecKey):
		return "sealed (no registry key here)", false
	}
	return "(unreadable spec)", false
}

// showCount is n as shown: "≥ n" when counting stopped at the cap.
func showCount(n int, capped bool) string {
	if capped {
		return "≥ " + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func statsCounts(st queue.Stats) counts {
	return counts{Pending: strconv.Itoa(st.Pending), Leased: strconv.Itoa(st.Leased), Dead: strconv.Itoa(st.Dead), HasDead: st.Dead > 0}
}

// countEndpoint counts one endpoint's deliveries by paging its listings, up to the cap.
func (c *Console) countEndpoint(ctx context.Context, id string, now time.Time) (counts, error) {
	var pending, leased, dead int
	var pCapped, dCapped bool
	after := ""
	for n := 0; ; {
		p, err := c.store.ListPending(ctx, queue.ListFilter{EndpointID: id, Limit: min(500, c.cfg.CountCap-n), After: after})
		if err != nil {
			return counts{}, err
		}
		for _, d := range p.Deliveries {
			if d.Lease != "" && d.LeaseExpires.After(now) {
				leased++
			} else {
				pending++
			}
		}
		n += len(p.Deliveries)
		if p.Next == "" {
			break
		}
		if n >= c.cfg.CountCap {
			pCapped = true
			break
		}
		after = p.Next
	}
	after = ""
	for {
		p, err := c.store.ListDead(ctx, queue.ListFilter{EndpointID: id, Limit: min(500, c.cfg.CountCap-dead), After: after})
		if err != nil {
			return counts{}, err
		}
		dead += len(p.Deliveries)
		if p.Next == "" {
			break
		}
		if dead >= c.cfg.CountCap {
			dCapped = true
			break
		}
		after = p.Next
	}
	return counts{Pending: showCount(pending, pCapped), Leased: showCount(leased, pCapped), Dead: showCount(dead, dCapped),
		HasDead: dead > 0}, nil
}

// samples returns the recent attempts of an endpoint for its chart, and the source of
// them: the Recorder's, else the histories of the first pending and dead deliveries.
func (c *Console) samples(ctx context.Context, id string) ([]Sample, string, string, error) {
	if c.cfg.Recorder != nil {
		s, problem := c.cfg.Recorder.Recent(id)
		return s, "recorded in this process", problem, nil
	}
	p, err := c.store.ListPending(ctx, queue.ListFilter{EndpointID: id, Limit: historyDeliveries})
	if err != nil {
		return nil, "", "", err
	}
	d, err := c.store.ListDead(ctx, queue.ListFilter{EndpointID: id, Limit: historyDeliveries})
	if err != nil {
		return nil, "", "", err
	}
	return storedSamples(p.Deliveries, d.Deliveries), "failed attempts kept in the store", "", nil
}

// maxAfter bounds the length of the overview's registry cursor (an endpoint ID).
const maxAfter = 1024

func (c *Console) overview(w http.ResponseWriter, r *http.Request, _ []string) {
	ctx, now := r.Context(), c.cfg.Now()
	after := r.URL.Query().Get("after")
	if len(after) > maxAfter || (after != "" && c.reg == nil) {
		c.badRequest(w, r, "The page cursor is not valid: start again from the first page.")
		return
	}
	l := c.page(w, r, "Endpoints")
	totals, err := c.store.Stats(ctx, now)
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	var per map[string]queue.Stats
	if c.counter != nil {
		if per, err = c.counter.EndpointStats(ctx, now); err != nil {
			c.storeError(w, r, err)
			return
		}
	}
	p := overviewPage{layout: l, Totals: statsCounts(totals)}
	if c.reg != nil {
		var next string
		if p.Endpoints, next, err = c.registryRows(ctx, l.Base, after, per); err != nil {
			c.storeError(w, r, err)
			return
		}
		if next != "" {
			p.Next = l.Base + "/?" + url.Values{"after": {next}}.Encode()
		}
		if after != "" {
			p.First = l.Base + "/"
		}
	} else {
		eps := c.endpointsByID()
		ids := make([]string, 0, len(eps)+len(per))
		for id := range eps {
			ids = append(ids, id)
		}
		for id := range per {
			if _, ok := eps[id]; !ok {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			st, subscribed := eps[id]
			p.Endpoints = append(p.Endpoints, c.row(l.Base, id, st, subscribed))
		}
	}
	var all []Sample
	for i := range p.Endpoints {
		e := &p.Endpoints[i]
		if per != nil {
			e.Counts = statsCounts(per[e.ID])
		} else if e.Counts, err = c.countEndpoint(ctx, e.ID, now); err != nil {
			c.storeError(w, r, err)
			return
		}
		s, source, problem, err := c.samples(ctx, e.ID)
		if err != nil {
			c.storeError(w, r, err)
			return
		}
		e.LastProblem = problem
		e.Chart = newChart(s, 160, 24, source)
		all = append(all, s...)
	}
	slices.SortStableFunc(all, func(a, b Sample) int { return a.Start.Compare(b.Start) })
	source := "failed attempts kept in the store"
	if c.cfg.Recorder != nil {
		source = "recorded in this process"
	}
	p.Chart = newChart(all, 600, 80, source)
	c.render(w, http.StatusOK, "overview", p)
}

// registryRows returns one page of the overview from the registry: up to PageSize
// endpoints after the cursor (one ListEndpoints), with the endpoints that have deliveries
// in the store (per, when the store counts them) but no record, among them in ID order
// (those between the cursor and the page's last ID, or all beyond the cursor on the last
// page: every ID in that range that the registry has is on the page). next is the cursor
// of the next page ("" on the last).
func (c *Console) registryRows(ctx context.Context, base, after string, per map[string]queue.Stats) ([]endpointRow, string, error) {
	page, err := c.reg.ListEndpoints(ctx, after, c.cfg.PageSize)
	if err != nil {
		return nil, "", err
	}
	rows := make([]endpointRow, 0, len(page.Endpoints))
	listed := make(map[string]bool, len(page.Endpoints))
	for _, rec := range page.Endpoints {
		rows = append(rows, c.regRow(base, rec))
		listed[rec.ID] = true
	}
	last := ""
	if n := len(page.Endpoints); n > 0 {
		last = page.Endpoints[n-1].ID
	}
	for id := range per {
		if id > after && (page.Next == "" || id <= last) && !listed[id] {
			rows = append(rows, c.row(base, id, dispatch.EndpointStatus{}, false))
		}
	}
	slices.SortFunc(rows, func(a, b endpointRow) int { return strings.Compare(a.ID, b.ID) })
	return rows, page.Next, nil
}

// cursorParam returns a query parameter that is a listing cursor; false (after answering
// 400) when it is too long to be one.
func (c *Console) cursorParam(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	v := r.URL.Query().Get(name)
	if len(v) > maxCursor {
		c.badRequest(w, r, "The page cursor is not valid: start again from the first page.")
		return "", false
	}
	return v, true
}

// knownEndpoint returns the row of endpoint id (its status from the registry's record,
// or the source's); false (after answering 404) when it is neither subscribed, nor in the
// registry, nor has anything stored.
func (c *Console) knownEndpoint(w http.ResponseWriter, r *http.Request, id string) (endpointRow, bool) {
	ctx, base := r.Context(), c.base(r)
	if c.reg != nil {
		recs, err := c.reg.GetEndpoints(ctx, id)
		if err != nil {
			c.storeError(w, r, err)
			return endpointRow{}, false
		}
		if len(recs) == 1 {
			return c.regRow(base, recs[0]), true
		}
	} else if st, ok := c.endpointsByID()[id]; ok {
		return c.row(base, id, st, true), true
	}
	for _, list := range []func(context.Context, queue.ListFilter) (queue.Page, error){c.store.ListDead, c.store.ListPending} {
		p, err := list(ctx, queue.ListFilter{EndpointID: id, Limit: 1})
		if err != nil {
			c.storeError(w, r, err)
			return endpointRow{}, false
		}
		if len(p.Deliveries) > 0 {
			return c.row(base, id, dispatch.EndpointStatus{}, false), true
		}
	}
	c.notFound(w, r)
	return endpointRow{}, false
}

func (c *Console) endpoint(w http.ResponseWriter, r *http.Request, segs []string) {
	id, ctx, now := segs[1], r.Context(), c.cfg.Now()
	pendingAfter, ok := c.cursorParam(w, r, "pending")
	if !ok {
		return
	}
	deadAfter, ok := c.cursorParam(w, r, "dead")
	if !ok {
		return
	}
	e, ok := c.knownEndpoint(w, r, id)
	if !ok {
		return
	}
	base := c.base(r)
	pending, err := c.store.ListPending(ctx, queue.ListFilter{EndpointID: id, Limit: c.cfg.PageSize, After: pendingAfter})
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	dead, err := c.store.ListDead(ctx, queue.ListFilter{EndpointID: id, Limit: c.cfg.PageSize, After: deadAfter})
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	l := c.page(w, r, "Endpoint "+id, crumb{Href: base + "/", Text: "Endpoints"})
	if c.counter != nil {
		per, err := c.counter.EndpointStats(ctx, now)
		if err != nil {
			c.storeError(w, r, err)
			return
		}
		e.Counts = statsCounts(per[id])
	} else if e.Counts, err = c.countEndpoint(ctx, id, now); err != nil {
		c.storeError(w, r, err)
		return
	}
	var samples []Sample
	var source string
	if c.cfg.Recorder != nil {
		samples, e.LastProblem = c.cfg.Recorder.Recent(id)
		source = "recorded in this process"
	} else {
		// The first pages listed here are the histories the store holds.
		first := [][]queue.Delivery{pending.Deliveries, dead.Deliveries}
		if pendingAfter != "" || deadAfter != "" {
			if samples, source, _, err = c.samples(ctx, id); err != nil {
				c.storeError(w, r, err)
				return
			}
		} else {
			samples, source = storedSamples(first...), "failed attempts kept in the store"
		}
	}
	e.Chart = newChart(samples, 600, 100, source)
	href := e.Href
	p := endpointPage{layout: l, E: e, RequeueAll: href + "/requeue", Enable: href + "/enable",
		CanEnable: e.Known && !e.active}
	if _, ok := c.src.(disabler); ok && e.Known {
		p.Disable, p.CanDisable = href+"/disable", !e.disabled
	}
	for _, d := range pending.Deliveries {
		p.Pending = append(p.Pending, c.deliveryRow(base, &d, false, now))
	}
	for _, d := range dead.Deliveries {
		p.Dead = append(p.Dead, c.deliveryRow(base, &d, true, now))
	}
	q := func(k, v string) string { return href + "?" + url.Values{k: {v}}.Encode() }
	if pending.Next != "" {
		p.PendingNext = q("pending", pending.Next)
	}
	if dead.Next != "" {
		p.DeadNext = q("dead", dead.Next)
	}
	if pendingAfter != "" {
		p.PendingFirst = href
	}
	if deadAfter != "" {
		p.DeadFirst = href
	}
	c.render(w, http.StatusOK, "endpoint", p)
}

// deliveryRow makes the row of a delivery; the link to its page carries its position in
// its listing (queue.Cursor) so that the page finds it with one indexed read.
func (c *Console) deliveryRow(base string, d *queue.Delivery, dead bool, now time.Time) deliveryRow {
	kind, at := "pending", d.Due
	if dead {
		kind, at = "dead", d.DeadAt
	}
	href := endpointHref(base, d.EndpointID) + "/" + kind + "/" + url.PathEscape(d.ID)
	pos := queue.Cursor(at, d.Seq)
	row := deliveryRow{ID: d.ID, Href: href + "?" + url.Values{"at": {pos}}.Encode(), At: pos,
		When: at.UTC().Format(timeFormat), Reason: d.DeadReason, Attempts: len(d.Attempts)}
	if d.Event != nil {
		row.EventType, row.EventID = d.Event.Type(), d.Event.ID()
	}
	if !dead && d.Lease != "" && d.LeaseExpires.After(now) {
		row.Leased = d.LeaseExpires.UTC().Format(timeFormat)
	}
	if n := len(d.Attempts); n > 0 {
		a := d.Attempts[n-1]
		row.Status = statusText(a.Status)
		row.LastError = cut(a.Error, 200)
	}
	if dead {
		row.Requeue = href + "/requeue"
	}
	return row
}

func statusText(code int) string {
	if code == 0 {
		return "—"
	}
	return strconv.Itoa(code)
}

// cut shortens s to at most n runes, ending with "…" when cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return string(rs[:n-1]) + "…"
}

// problemOf returns the receiver's problem document as the stored error text carries it:
// the sender records a refusal as "status 422 Unprocessable Entity: Title: Detail (Type)"
// (the store keeps the text, not the problem's fields), so the part after the status
// line is what the receiver said; "" when the text is not of that form.
func problemOf(errText string, status int) string {
	if status == 0 {
		return ""
	}
	prefix := "status " + strconv.Itoa(status)
	if t := http.StatusText(status); t != "" {
		prefix += " " + t
	}
	rest, ok := strings.CutPrefix(errText, prefix+": ")
	if !ok {
		return ""
	}
	return rest
}

// findDelivery returns the delivery id of endpoint ep, dead or pending: at its position at
// (a queue.Cursor, as the listing links carry) with one read, else by paging through the
// endpoint's listing up to the count cap.
func (c *Console) findDelivery(ctx context.Context, ep, id string, dead bool, at string) (*queue.Delivery, error) {
	list := c.store.ListPending
	if dead {
		list = c.store.ListDead
	}
	if at != "" {
		t, seq, err := queue.ParseCursor(at)
		if err != nil {
			return nil, err
		}
		if seq > 0 {
			p, err := list(ctx, queue.ListFilter{EndpointID: ep, Limit: 1, After: queue.Cursor(t, seq-1)})
			if err != nil && !errors.Is(err, queue.ErrInvalidCursor) { // a store with cursors of its own: page
				return nil, err
			}
			if err == nil && len(p.Deliveries) == 1 && p.Deliveries[0].ID == id {
				return &p.Deliveries[0], nil
			}
		}
	}
	after := ""
	for seen := 0; seen < c.cfg.CountCap; {
		p, err := list(ctx, queue.ListFilter{EndpointID: ep, Limit: 200, After: after})
		if err != nil {
			return nil, err
		}
		for i := range p.Deliveries {
			if p.Deliveries[i].ID == id {
				return &p.Deliveries[i], nil
			}
		}
		seen += len(p.Deliveries)
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	return nil, queue.ErrNotFound
}

func (c *Console) delivery(w http.ResponseWriter, r *http.Request, segs []string) {
	ep, dead, id := segs[1], segs[2] == "dead", segs[3]
	at, ok := c.cursorParam(w, r, "at")
	if !ok {
		return
	}
	d, err := c.findDelivery(r.Context(), ep, id, dead, at)
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	base := c.base(r)
	kind := "Pending delivery "
	if dead {
		kind = "Dead letter "
	}
	l := c.page(w, r, kind+id, crumb{Href: base + "/", Text: "Endpoints"}, crumb{Href: endpointHref(base, ep), Text: ep})
	p := deliveryPage{layout: l, D: c.deliveryRow(base, d, dead, c.cfg.Now()), Dead: dead, Ordered: d.Ordered,
		Created: d.Created.UTC().Format(timeFormat), Due: d.Due.UTC().Format(timeFormat), RoundStart: d.RoundStart}
	if dead {
		p.DeadAt = d.DeadAt.UTC().Format(timeFormat)
	}
	for _, a := range d.Attempts {
		ar := attemptRow{Number: a.Number, Start: a.Start.UTC().Format(timeFormat), Duration: round(a.Duration),
			Status: statusText(a.Status), Class: a.Class, OutClass: outcomeClass(a.Class), Error: a.Error,
			Problem: problemOf(a.Error, a.Status)}
		if a.RetryAfter > 0 {
			ar.RetryAfter = round(a.RetryAfter)
		}
		p.Attempts = append(p.Attempts, ar)
	}
	c.render(w, http.StatusOK, "delivery", p)
}

// redirect answers an action: 303 See Other to the endpoint's page, with a flash message.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, ep string, kind byte, msg string) {
	c.setFlash(w, r, kind, msg)
	http.Redirect(w, r, endpointHref(c.base(r), ep), http.StatusSeeOther)
}

func (c *Console) doRequeue(ctx context.Context, sel queue.Selector) (int, error) {
	if c.requeue != nil {
		return c.requeue.Requeue(ctx, sel)
	}
	return c.store.Requeue(ctx, sel, c.cfg.Now())
}

func (c *Console) requeueOne(w http.ResponseWriter, r *http.Request, segs []string) {
	ep, id := segs[1], segs[3]
	at := r.PostForm.Get("at")
	if len(at) > maxCursor {
		c.badRequest(w, r, "The page cursor is not valid.")
		return
	}
	if _, err := c.findDelivery(r.Context(), ep, id, true, at); err != nil {
		c.storeError(w, r, err)
		return
	}
	n, err := c.doRequeue(r.Context(), queue.Selector{ID: id})
	switch {
	case errors.Is(err, queue.ErrNotFound):
		c.redirect(w, r, ep, flashError, fmt.Sprintf("Delivery %s is no longer a dead letter.", id))
	case errors.Is(err, queue.ErrQueueFull):
		c.redirect(w, r, ep, flashError, "The store is full: nothing was requeued.")
	case err != nil:
		c.storeError(w, r, err)
	default:
		c.redirect(w, r, ep, flashOK, fmt.Sprintf("Requeued %d dead letter (%s): pending again, due now.", n, id))
	}
}

func (c *Console) requeueAll(w http.ResponseWriter, r *http.Request, segs []string) {
	ep := segs[1]
	if _, ok := c.knownEndpoint(w, r, ep); !ok {
		return
	}
	n, err := c.doRequeue(r.Context(), queue.Selector{EndpointID: ep})
	switch {
	case errors.Is(err, queue.ErrQueueFull):
		c.redirect(w, r, ep, flashError, "The store is full: nothing was requeued.")
	case err != nil:
		c.storeError(w, r, err)
	default:
		c.redirect(w, r, ep, flashOK, fmt.Sprintf("Requeued %d dead letter(s) of %s: pending again, due now.", n, ep))
	}
}

func (c *Console) enable(w http.ResponseWriter, r *http.Request, segs []string) {
	ep := segs[1]
	var err error
	if ce, ok := c.src.(contextEnabler); ok {
		err = ce.EnableEndpointContext(r.Context(), ep)
	} else {
		err = c.src.EnableEndpoint(ep)
	}
	switch {
	case errors.Is(err, queue.ErrNotFound):
		c.notFound(w, r)
	case errors.Is(err, ErrNoDispatcher):
		c.redirect(w, r, ep, flashError, "Not enabled: this console runs no dispatcher, and an endpoint's circuit-breaker state "+
			"lives in the memory of each worker that delivers to it. Restart the workers (their breakers start active), "+
			"serve the console from a worker (hookkit console --worker), or keep the endpoints in the store's shared registry "+
			"(hookkit endpoint import; hookkit console --registry).")
	case err != nil:
		c.log.Error("hookkit/console: enabling an endpoint failed", "endpoint", ep, "err", err)
		c.fail(w, r, http.StatusInternalServerError, "The endpoint could not be enabled; see the server's log.")
	case c.reg != nil:
		c.redirect(w, r, ep, flashOK, fmt.Sprintf("Endpoint %s is active again in the registry: every worker on it serves it "+
			"again within its poll interval.", ep))
	default:
		c.redirect(w, r, ep, flashOK, fmt.Sprintf("Endpoint %s is active again.", ep))
	}
}

func (c *Console) disable(w http.ResponseWriter, r *http.Request, segs []string) {
	ep := segs[1]
	d, ok := c.src.(disabler)
	if !ok {
		c.notFound(w, r)
		return
	}
	err := d.DisableEndpoint(r.Context(), ep)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		c.notFound(w, r)
	case err != nil:
		c.log.Error("hookkit/console: disabling an endpoint failed", "endpoint", ep, "err", err)
		c.fail(w, r, http.StatusInternalServerError, "The endpoint could not be disabled; see the server's log.")
	default:
		msg := fmt.Sprintf("Endpoint %s is disabled: nothing more is published or sent to it, and its pending deliveries "+
			"are dead letters (requeue them once it is enabled again).", ep)
		if c.reg != nil {
			msg += " Every worker on the registry follows within its poll interval."
		}
		c.redirect(w, r, ep, flashOK, msg)
	}
}
