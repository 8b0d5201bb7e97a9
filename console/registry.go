package console

import (
	"context"
	"time"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// enableTimeout bounds EnableEndpoint of a Registered source (it has no context).
const enableTimeout = 10 * time.Second

// registryHolder is a Source whose endpoints are in a shared registry: a
// *dispatch.Dispatcher (whose Registry is nil without one) or Registered.
type registryHolder interface {
	Registry() queue.Registry
}

// endpointer is a Source that gives one endpoint's status (dispatch.Dispatcher.Endpoint).
type endpointer interface {
	Endpoint(id string) (dispatch.EndpointStatus, bool)
}

// disabler is a Source that disables an endpoint (dispatch.Dispatcher.DisableEndpoint):
// the console then offers a Disable form.
type disabler interface {
	DisableEndpoint(ctx context.Context, id string) error
}

// registered is the Source of a process without a dispatcher whose endpoints are in a
// registry.
type registered struct {
	store queue.Store
	reg   queue.Registry
}

// Registered returns a Source for a console beside the workers when the endpoints are in
// a shared registry (dispatch.Config.Registry; "hookkit worker --registry"): the
// deliveries and dead letters of store, the endpoints of reg with their shared
// circuit-breaker state (active, failing, paused until, probing, disabled, consecutive
// failures, the reason of the last change). Unlike Detached, the console can act on them:
// enabling or disabling an endpoint writes its record in the registry (compare-and-set on
// the version it read, deciding again after a conflict), and every dispatcher on the
// registry follows within its poll interval; disabling also makes the endpoint's pending
// deliveries dead letters (queue.DeadReasonGone), as a 410 Gone does. Attempts in flight
// are counted by each worker in its memory: the console shows them as unknown.
//
// The overview pages through the registry (ListEndpoints, Config.PageSize at a time), so
// a registry of 100,000 endpoints costs one page per view. The endpoints' URLs are in
// their sealed specs: give the registry key as Config.RegistryKey to show each one's
// host. Its Endpoints returns nil (the console lists the registry instead) and its
// EnableEndpoint, without a context, is bounded by 10 s. Records are stamped with
// time.Now, as the CLI's are.
func Registered(store queue.Store, reg queue.Registry) Source {
	return &registered{store: store, reg: reg}
}

func (s *registered) Store() queue.Store { return s.store }

// Registry returns the registry the source lists.
func (s *registered) Registry() queue.Registry { return s.reg }

func (s *registered) Endpoints() []dispatch.EndpointStatus { return nil }

func (s *registered) EnableEndpoint(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), enableTimeout)
	defer cancel()
	return s.EnableEndpointContext(ctx, id)
}

// EnableEndpointContext makes the endpoint active in the registry (no failures).
func (s *registered) EnableEndpointContext(ctx context.Context, id string) error {
	_, err := setState(ctx, s.reg, id, queue.StateUpdate{State: queue.EndpointActive, Reason: "enabled in the console"})
	return err
}

// DisableEndpoint disables the endpoint in the registry, then makes its pending
// deliveries dead letters.
func (s *registered) DisableEndpoint(ctx context.Context, id string) error {
	if _, err := setState(ctx, s.reg, id, queue.StateUpdate{State: queue.EndpointDisabled, Reason: "disabled in the console"}); err != nil {
		return err
	}
	_, err := s.store.DeadLetterEndpoint(ctx, time.Now(), id, queue.DeadReasonGone)
	return err
}

// setState writes st for endpoint id (queue.UpdateEndpointState: compare-and-set on the
// version read, reading again after a conflict; the state written is the operator's
// decision whatever the endpoint's state meanwhile); queue.ErrNotFound when the registry
// has no such endpoint.
func setState(ctx context.Context, reg queue.Registry, id string, st queue.StateUpdate) (queue.Endpoint, error) {
	return queue.UpdateEndpointState(ctx, reg, id, queue.StateCAS{Decide: func(queue.Endpoint) (queue.StateUpdate, bool) {
		st.UpdatedAt = time.Now()
		return st, true
	}})
}
