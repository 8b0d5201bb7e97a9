package hookkitotel

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// StatsTimeout bounds the Store.Stats call QueueDepth makes at each collection.
const StatsTimeout = 5 * time.Second

// QueueDepth registers the observable gauge hookkit.queue.deliveries ({delivery}) on
// meter, reporting store.Stats at each collection (a Prometheus scrape, a periodic
// reader's export) as three points, hookkit.queue.state pending, leased and dead. A gauge
// rather than a sum: instances that share one store (pgqueue) each report the store's
// totals, which must not be added up. The call is bounded by StatsTimeout; when it fails,
// the error goes to otel.Handle and no point is reported (no stale value). Unregister the
// returned registration when the store is closed. Use the meter of this package's scope:
// provider.Meter(hookkitotel.ScopeName).
func QueueDepth(meter metric.Meter, store queue.Store) (metric.Registration, error) {
	g, err := meter.Int64ObservableGauge(MetricQueueDeliveries, metric.WithUnit("{delivery}"),
		metric.WithDescription("Deliveries in the dispatcher's store, by state (pending, leased, dead)."))
	if err != nil {
		return nil, fmt.Errorf("hookkit/otel: queue depth gauge: %w", err)
	}
	pending := metric.WithAttributes(AttrQueueState.String("pending"))
	leased := metric.WithAttributes(AttrQueueState.String("leased"))
	dead := metric.WithAttributes(AttrQueueState.String("dead"))
	reg, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, StatsTimeout)
		defer cancel()
		st, err := store.Stats(ctx, time.Now())
		if err != nil {
			otel.Handle(fmt.Errorf("hookkit/otel: queue depth: %w", err))
			return nil
		}
		o.ObserveInt64(g, int64(st.Pending), pending)
		o.ObserveInt64(g, int64(st.Leased), leased)
		o.ObserveInt64(g, int64(st.Dead), dead)
		return nil
	}, g)
	if err != nil {
		return nil, fmt.Errorf("hookkit/otel: queue depth callback: %w", err)
	}
	return reg, nil
}

// endpointStates are the states EndpointStates reports, every one at each collection
// (0 included), so that an alert on "paused > 0" sees the endpoint recover.
var endpointStates = []dispatch.EndpointState{
	dispatch.EndpointActive, dispatch.EndpointFailing, dispatch.EndpointPaused,
	dispatch.EndpointProbing, dispatch.EndpointDisabled,
}

// EndpointStates registers the observable gauge hookkit.endpoints ({endpoint}) on meter:
// at each collection, how many of d's endpoints are in each circuit-breaker state
// (hookkit.endpoint.state: active, failing, paused, probing, disabled), from
// d.Endpoints(). "Paused now" is what to alert on; hookkit.endpoint.state_changes
// (DispatchObserver) counts the moves. Unregister the returned registration when the
// dispatcher is gone.
func EndpointStates(meter metric.Meter, d *dispatch.Dispatcher) (metric.Registration, error) {
	g, err := meter.Int64ObservableGauge(MetricEndpoints, metric.WithUnit("{endpoint}"),
		metric.WithDescription("Endpoints of a dispatcher, by circuit-breaker state (active, failing, paused, probing, disabled)."))
	if err != nil {
		return nil, fmt.Errorf("hookkit/otel: endpoint states gauge: %w", err)
	}
	opts := make([]metric.ObserveOption, len(endpointStates))
	for i, st := range endpointStates {
		opts[i] = metric.WithAttributes(AttrEndpointState.String(st.String()))
	}
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		counts := make(map[dispatch.EndpointState]int64, len(endpointStates))
		for _, st := range d.Endpoints() {
			counts[st.State]++
		}
		for i, st := range endpointStates {
			o.ObserveInt64(g, counts[st], opts[i])
		}
		return nil
	}, g)
	if err != nil {
		return nil, fmt.Errorf("hookkit/otel: endpoint states callback: %w", err)
	}
	return reg, nil
}
