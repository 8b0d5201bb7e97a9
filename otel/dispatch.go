package hookkitotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// DispatchObserver returns the observer to set as dispatch.Config.Observer. It records
// hookkit.deliveries with outcome delivered or dead_lettered (error.type: the class of
// the last attempt, e.g. retryable for a delivery that exhausted its retries, gone,
// permanent; _OTHER when none is recorded), hookkit.endpoint.state_changes (by the state
// entered and the state left) and hookkit.dead_letters.evicted. The dispatcher's attempts
// are recorded by SenderObserver on the dispatcher's Sender; wire both.
func DispatchObserver(cfg Config) dispatch.Observer {
	o := &dispatchObs{ins: newInstruments(cfg.meter()), endpoints: cfg.EndpointMetrics}
	return dispatch.Observer{
		Delivered:            o.delivered,
		DeadLettered:         o.deadLettered,
		EndpointStateChanged: o.stateChanged,
		DeadLetterEvicted:    o.evicted,
	}
}

type dispatchObs struct {
	ins       *instruments
	endpoints bool
}

func (o *dispatchObs) delivered(ctx context.Context, d queue.Delivery) {
	o.ins.deliveries.Add(ctx, 1, metric.WithAttributes(outcomeAttrs(o.endpoints, OutcomeDelivered, d.EndpointID, "")...))
}

func (o *dispatchObs) deadLettered(ctx context.Context, d queue.Delivery) {
	errType := semconv.ErrorTypeOther.Value.AsString()
	if n := len(d.Attempts); n > 0 && d.Attempts[n-1].Class != "" {
		errType = d.Attempts[n-1].Class
	}
	o.ins.deliveries.Add(ctx, 1, metric.WithAttributes(outcomeAttrs(o.endpoints, OutcomeDeadLettered, d.EndpointID, errType)...))
}

func (o *dispatchObs) stateChanged(ctx context.Context, c dispatch.EndpointStateChange) {
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, AttrEndpointState.String(c.To.String()), AttrEndpointPreviousState.String(c.From.String()))
	if o.endpoints {
		attrs = append(attrs, AttrEndpointID.String(c.EndpointID))
	}
	o.ins.stateChanges.Add(ctx, 1, metric.WithAttributes(attrs...))
}

func (o *dispatchObs) evicted(ctx context.Context, d queue.Delivery) {
	var opts []metric.AddOption
	if o.endpoints {
		opts = append(opts, metric.WithAttributes(AttrEndpointID.String(d.EndpointID)))
	}
	o.ins.evicted.Add(ctx, 1, opts...)
}
