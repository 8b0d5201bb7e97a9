package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// Defaults and bounds of Config.
const (
	DefaultPageSize = 50    // Config.PageSize
	MaxPageSize     = 500   // the largest Config.PageSize
	DefaultCountCap = 1000  // Config.CountCap
	MaxCountCap     = 10000 // the largest Config.CountCap
)

var (
	// ErrNoDispatcher is returned by the EnableEndpoint of a Detached source: the state of
	// an endpoint's circuit breaker lives in the memory of each dispatcher that delivers to
	// it, and this process has none. The console says so on the page.
	ErrNoDispatcher = errors.New("hookkit/console: no dispatcher in this process: endpoint states live in each worker's memory")
	// ErrInvalidConfig is wrapped by the errors of New for a configuration that cannot work.
	ErrInvalidConfig = errors.New("hookkit/console: invalid configuration")
)

// Source is what a console shows and acts on: a *dispatch.Dispatcher is one (its
// endpoints, their circuit-breaker state and in-flight attempts, its store); Detached
// makes one for a process that runs no dispatcher. When the source also has
// Requeue(ctx, queue.Selector) (int, error), as a Dispatcher does (requeued deliveries due
// at its clock, its workers woken), the console requeues through it; otherwise through
// the store, due at Config.Now. When it has EnableEndpointContext(ctx, id) error, the
// console enables through it, with the request's context; when it has
// DisableEndpoint(ctx, id) error, the endpoint's page offers Disable too.
//
// When it has Registry() queue.Registry and that is not nil — a Dispatcher with
// dispatch.Config.Registry, or Registered — the endpoints and their states are the
// registry's: the overview pages through ListEndpoints (Config.PageSize at a time, never
// the whole registry), each endpoint shows its shared record (state, failures, paused
// until, the reason of the last change), and Endpoints is not used for the listing (a
// registry-backed dispatcher's has only the endpoints it caches). The attempts in flight
// are those of the source's Endpoint(id) (a dispatcher's, in this process), else unknown.
type Source interface {
	// Store is where the deliveries are.
	Store() queue.Store
	// Endpoints returns the status of every endpoint, in any order (see above for a
	// source with a registry).
	Endpoints() []dispatch.EndpointStatus
	// EnableEndpoint resumes a paused or disabled endpoint; queue.ErrNotFound for an
	// unknown one.
	EnableEndpoint(id string) error
}

// contextEnabler is a Source whose EnableEndpoint takes a context (a dispatcher whose
// endpoint states are shared through a store does I/O to enable one).
type contextEnabler interface {
	EnableEndpointContext(ctx context.Context, id string) error
}

// requeuer is a Source that requeues itself (dispatch.Dispatcher.Requeue).
type requeuer interface {
	Requeue(ctx context.Context, sel queue.Selector) (int, error)
}

// detached is the Source of a process without a dispatcher.
type detached struct {
	store queue.Store
	subs  []dispatch.Subscription
}

// Detached returns a Source for a console that runs beside the workers rather than in one
// of them (hookkit console): the deliveries and dead letters of store, the endpoints subs
// describes. It knows no circuit-breaker state nor in-flight count — those live in each
// worker's memory — so the console shows the state as unknown, and its EnableEndpoint
// returns ErrNoDispatcher, which the console reports on the page instead of pretending.
// Requeueing works: it changes only the store, and the workers sharing it pick the
// deliveries up at their next poll (or at once, with a store that notifies, as pgqueue does).
func Detached(store queue.Store, subs []dispatch.Subscription) Source {
	return &detached{store: store, subs: subs}
}

func (d *detached) Store() queue.Store { return d.store }

func (d *detached) Endpoints() []dispatch.EndpointStatus {
	out := make([]dispatch.EndpointStatus, len(d.subs))
	for i, s := range d.subs {
		out[i] = dispatch.EndpointStatus{Subscription: s}
	}
	return out
}

func (d *detached) EnableEndpoint(id string) error {
	for _, s := range d.subs {
		if s.Endpoint.ID == id {
			return ErrNoDispatcher
		}
	}
	return queue.ErrNotFound
}

// Config configures a Console. The zero value is ready to use.
type Config struct {
	// Recorder, when set, is where the charts take the recent attempts of each endpoint
	// from (hook it into the Sender: sender.Config.Observer = rec.Observer()). nil: the
	// charts are drawn from the attempt histories the store holds, which are those of
	// pending and dead deliveries only (an acknowledged delivery leaves the store).
	Recorder *Recorder
	// BasePath is the path under which the browser sees the console, such as
	// "/admin/webhooks", for its links, form actions, redirects and cookies. "": the part
	// of each request's path that http.StripPrefix removed (nothing when the console is
	// mounted at the root), which is right unless a proxy rewrites paths.
	BasePath string
	// PageSize is how many deliveries a listing page shows. 0 means DefaultPageSize (50);
	// at most MaxPageSize (500); negative is an error.
	PageSize int
	// CountCap bounds the counting of one endpoint's pending or dead deliveries when the
	// store is not a queue.EndpointCounter (the console then pages through ListPending and
	// ListDead, and shows "≥ N" beyond the cap). 0 means DefaultCountCap (1,000); at most
	// MaxCountCap; negative is an error.
	CountCap int
	// Now is the clock: which leases are live, and the due time of requeued deliveries when
	// the Source has no Requeue of its own. nil: time.Now.
	Now func() time.Time
	// Key signs the CSRF tokens and the flash messages; at least 32 bytes. Consoles behind
	// one load balancer share it. nil: 32 bytes from crypto/rand, new at every New (a
	// restart then asks open pages to reload before their next action).
	Key []byte
	// Title is the heading of every page. "": "Webhook deliveries".
	Title string
	// Logger logs store failures (the page says only that the store failed). nil:
	// slog.Default().
	Logger *slog.Logger
	// SecureCookies sets the Secure attribute on the console's cookies (the session and
	// the flash message) on every response: for a console behind a TLS-terminating proxy,
	// which sees the browser's HTTPS requests as plain HTTP. false: Secure only when the
	// request itself came over TLS (http.Request.TLS set).
	SecureCookies bool
	// RegistryKey is the 32-byte key that opens the endpoint specs of the source's
	// registry (dispatch.Config.RegistryKey; Registered), which the console opens only to
	// show each endpoint's URL host. nil: a spec stored in clear shows its host, a sealed
	// one "sealed" — unless the source is a dispatcher that has the endpoint in its cache.
	// Any other length is an error.
	RegistryKey []byte
	// RegistryOldKeys are the earlier 32-byte registry keys (dispatch.Config.RegistryOldKeys)
	// during a key rotation: a spec sealed under one of them still shows its host until it
	// is re-sealed ("hookkit endpoint rekey"). A spec that neither RegistryKey nor these
	// open shows "sealed under another key". Any key of another length is an error.
	RegistryOldKeys [][]byte
}

// Console is the delivery console: an http.Handler that serves the pages and actions of
// one Source. Mount it behind your own authentication; it has none of its own. Create it
// with New.
type Console struct {
	src      Source
	store    queue.Store
	counter  queue.EndpointCounter // the store, when it counts per endpoint
	requeue  requeuer              // the source, when it requeues itself
	detached bool
	reg      queue.Registry     // the source's registry, when its endpoints are in one
	codec    dispatch.SpecCodec // opens the registry's specs (Config.RegistryKey)
	local    endpointer         // the source, when it counts attempts in flight in this process (nil for Detached and Registered)
	cfg      Config
	log      *slog.Logger
	key      []byte
	cop      *http.CrossOriginProtection
	tmpl     *template.Template
	css      template.CSS
	csp      string
}

// New returns the console of src (a *dispatch.Dispatcher, or Detached). It returns an
// error wrapping ErrInvalidConfig for a nil source or store, or a Config that cannot work.
func New(src Source, cfg Config) (*Console, error) {
	if src == nil || src.Store() == nil {
		return nil, fmt.Errorf("%w: nil source or store", ErrInvalidConfig)
	}
	switch {
	case cfg.PageSize < 0 || cfg.PageSize > MaxPageSize:
		return nil, fmt.Errorf("%w: PageSize %d not in 0..%d", ErrInvalidConfig, cfg.PageSize, MaxPageSize)
	case cfg.CountCap < 0 || cfg.CountCap > MaxCountCap:
		return nil, fmt.Errorf("%w: CountCap %d not in 0..%d", ErrInvalidConfig, cfg.CountCap, MaxCountCap)
	case cfg.Key != nil && len(cfg.Key) < 32:
		return nil, fmt.Errorf("%w: Key shorter than 32 bytes", ErrInvalidConfig)
	case cfg.RegistryKey != nil && len(cfg.RegistryKey) != dispatch.SpecKeySize:
		return nil, fmt.Errorf("%w: RegistryKey must be %d bytes", ErrInvalidConfig, dispatch.SpecKeySize)
	case cfg.BasePath != "" && !validBase(cfg.BasePath):
		return nil, fmt.Errorf("%w: BasePath must be a clean absolute path such as /admin/webhooks", ErrInvalidConfig)
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.CountCap == 0 {
		cfg.CountCap = DefaultCountCap
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Title == "" {
		cfg.Title = "Webhook deliveries"
	}
	cfg.BasePath = strings.TrimSuffix(cfg.BasePath, "/")
	c := &Console{src: src, store: src.Store(), cfg: cfg, cop: http.NewCrossOriginProtection(), tmpl: pages, log: cfg.Logger}
	c.counter, _ = c.store.(queue.EndpointCounter)
	c.requeue, _ = src.(requeuer)
	_, c.detached = src.(*detached)
	if _, isRegistered := src.(*registered); !c.detached && !isRegistered {
		c.local, _ = src.(endpointer)
	}
	if rh, ok := src.(registryHolder); ok {
		c.reg = rh.Registry()
	}
	if cfg.RegistryKey != nil {
		c.codec.Key = append([]byte(nil), cfg.RegistryKey...)
		c.cfg.RegistryKey = nil // kept only in the codec
	}
	for i, k := range cfg.RegistryOldKeys {
		if len(k) != dispatch.SpecKeySize {
			return nil, fmt.Errorf("%w: RegistryOldKeys[%d] must be %d bytes", ErrInvalidConfig, i, dispatch.SpecKeySize)
		}
		c.codec.OldKeys = append(c.codec.OldKeys, append([]byte(nil), k...))
	}
	c.cfg.RegistryOldKeys = nil
	if cfg.Key != nil {
		c.key = append([]byte(nil), cfg.Key...)
	} else {
		c.key = make([]byte, 32)
		_, _ = rand.Read(c.key) // never fails (crypto/rand)
	}
	c.css = template.CSS(stylesheet)
	sum := sha256.Sum256([]byte(stylesheet))
	c.csp = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	return c, nil
}

// validBase reports whether p is a usable base path: absolute, clean, not "//…".
func validBase(p string) bool {
	p = strings.TrimSuffix(p, "/")
	return p == "" || strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && path.Clean(p) == p &&
		!strings.ContainsAny(p, "\\?#\"'<> ")
}

// base returns the path prefix of the console's URLs for r, without a final slash.
func (c *Console) base(r *http.Request) string {
	if c.cfg.BasePath != "" {
		return c.cfg.BasePath
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return ""
	}
	full, rest := u.EscapedPath(), r.URL.EscapedPath()
	if !strings.HasSuffix(full, rest) {
		return ""
	}
	b := strings.TrimSuffix(full[:len(full)-len(rest)], "/")
	if !validBase(b) {
		return ""
	}
	return b
}

// setHeaders sets the security headers of every response.
func (c *Console) setHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", c.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// ServeHTTP implements http.Handler: the pages (GET, HEAD) and the actions (POST).
//
//	/                                  overview: endpoints, counts, charts
//	/endpoints/{ep}                    an endpoint: its pending deliveries and dead letters (?pending=, ?dead= cursors)
//	/endpoints/{ep}/dead/{id}          a dead letter and its full attempt history
//	/endpoints/{ep}/pending/{id}       a pending delivery and its attempts so far
//	POST /endpoints/{ep}/dead/{id}/requeue   requeue one dead letter
//	POST /endpoints/{ep}/requeue             requeue every dead letter of the endpoint
//	POST /endpoints/{ep}/enable              re-enable the endpoint
//	POST /endpoints/{ep}/disable             disable it (a source with DisableEndpoint)
//	/?after=ID                               with a registry: the overview's next page
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.setHeaders(w)
	segs, ok := segments(r.URL.EscapedPath())
	if !ok {
		c.notFound(w, r)
		return
	}
	get := func(h func(http.ResponseWriter, *http.Request, []string)) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		h(w, r, segs)
	}
	post := func(h func(http.ResponseWriter, *http.Request, []string)) {
		if r.Method != http.MethodPost {
			c.methodNotAllowed(w, r, "POST")
			return
		}
		if !c.checkPost(w, r) {
			return
		}
		h(w, r, segs)
	}
	switch {
	case len(segs) == 0:
		get(c.overview)
	case segs[0] != "endpoints" || len(segs) == 1:
		c.notFound(w, r)
	case len(segs) == 2:
		get(c.endpoint)
	case len(segs) == 3 && segs[2] == "requeue":
		post(c.requeueAll)
	case len(segs) == 3 && segs[2] == "enable":
		post(c.enable)
	case len(segs) == 3 && segs[2] == "disable":
		post(c.disable)
	case len(segs) == 4 && (segs[2] == "dead" || segs[2] == "pending"):
		get(c.delivery)
	case len(segs) == 5 && segs[2] == "dead" && segs[4] == "requeue":
		post(c.requeueOne)
	default:
		c.notFound(w, r)
	}
}

// segments splits an escaped path into its unescaped segments ("/" and "": none); false
// for an empty segment or one that does not unescape.
func segments(p string) ([]string, bool) {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil, true
	}
	parts := strings.Split(p, "/")
	for i, s := range parts {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}
