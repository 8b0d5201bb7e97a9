package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunScrapesTheAlertingMetrics: the program's scrape of its own /metrics has the
// deliveries by outcome per endpoint (one dead letter at the failing endpoint), the
// attempts by class and status, the queue depth by state, the breaker's pauses and the
// receiver's requests, and the program prints the alert rules with their values.
func TestRunScrapesTheAlertingMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	scrape, err := run(ctx, &out)
	require.NoError(t, err, out.String())
	assert.Less(t, time.Since(start), 20*time.Second)
	s := parse(scrape)

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"hookkit_deliveries_total", []string{`hookkit_delivery_outcome="delivered"`, `hookkit_endpoint_id="acme"`}, 3},
		{"hookkit_deliveries_total", []string{`hookkit_delivery_outcome="delivered"`, `hookkit_endpoint_id="flaky"`}, 3},
		{"hookkit_deliveries_total", []string{`hookkit_delivery_outcome="dead_lettered"`, `hookkit_endpoint_id="broken"`, `error_type="retryable"`}, 1},
		{"hookkit_deliveries_total", []string{`hookkit_delivery_outcome="delivered"`, `hookkit_endpoint_id="broken"`}, 0},
		{"hookkit_delivery_attempts_total", []string{`hookkit_attempt_class="acknowledged"`}, 6},
		{"hookkit_delivery_attempts_total", []string{`hookkit_endpoint_id="broken"`, `http_response_status_code="500"`}, 4},
		{"hookkit_delivery_attempts_total", []string{`hookkit_endpoint_id="flaky"`, `http_response_status_code="503"`}, 1},
		{"hookkit_delivery_attempt_duration_seconds_count", nil, 11},
		{"hookkit_queue_deliveries", []string{`hookkit_queue_state="pending"`}, 0},
		{"hookkit_queue_deliveries", []string{`hookkit_queue_state="leased"`}, 0},
		{"hookkit_queue_deliveries", []string{`hookkit_queue_state="dead"`}, 1},
		{"hookkit_endpoint_state_changes_total", []string{`hookkit_endpoint_id="broken"`, `hookkit_endpoint_state="paused"`}, 2},
		{"hookkit_endpoint_state_changes_total", []string{`hookkit_endpoint_id="flaky"`, `hookkit_endpoint_state="active"`}, 1},
		{"hookkit_endpoints", []string{`hookkit_endpoint_state="paused"`}, 1},
		{"hookkit_endpoints", []string{`hookkit_endpoint_state="active"`}, 2},
		{"hookkit_receiver_requests_total", []string{`hookkit_receiver_outcome="accepted"`, `http_response_status_code="204"`}, 6},
		{"hookkit_receiver_requests_total", []string{`hookkit_receiver_outcome="accepted"`, `http_response_status_code="500"`}, 4},
	} {
		assert.Equal(t, c.want, s.sumAll(c.name, c.labels...), "%s%v", c.name, c.labels)
	}
	assert.Contains(t, scrape, "# TYPE hookkit_delivery_attempt_duration_seconds histogram")
	assert.Contains(t, scrape, "# TYPE hookkit_queue_deliveries gauge")
	assert.NotContains(t, scrape, "hookkit_event_id", "no event ids in metrics")

	text := out.String()
	for _, a := range alerts {
		assert.Contains(t, text, a.name)
		assert.Contains(t, text, a.expr)
	}
	assert.Contains(t, text, "now: 1 dead letter(s)")
	assert.Contains(t, text, "now: 5 of 11 attempts failed (45%)")
	assert.Contains(t, text, "now: 0 pending")
	assert.Contains(t, text, "now: 1 endpoint(s) paused or disabled")
	assert.NotContains(t, text, "whsec_", "no secret in the output")
}

// sumAll adds the values of the samples named name that have every label.
func (ss samples) sumAll(name string, labels ...string) float64 {
	var total float64
next:
	for _, s := range ss {
		if s.name != name {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(s.labels, l) {
				continue next
			}
		}
		total += s.value
	}
	return total
}
