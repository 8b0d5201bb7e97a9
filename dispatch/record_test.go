package dispatch

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/sender"
)

// TestRecordKeepsEveryField: the attempt a store is given is the sender's, as plain data:
// the class by its stable name (the queue constants), the error by its text.
func TestRecordKeepsEveryField(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	got := record(sender.Attempt{Number: 3, Start: start, Duration: 7 * time.Millisecond, Status: 503,
		Class: sender.ClassRetryable, Err: errors.New("status 503 Service Unavailable"), RetryAfter: 9 * time.Second})
	assert.Equal(t, queue.Attempt{Number: 3, Start: start, Duration: 7 * time.Millisecond, Status: 503,
		Class: queue.ClassRetryable, Error: "status 503 Service Unavailable", RetryAfter: 9 * time.Second}, got)
	assert.Empty(t, record(sender.Attempt{Class: sender.ClassAcknowledged}).Error, "no error, no text")

	for c, name := range map[sender.Class]string{
		sender.ClassAcknowledged: queue.ClassAcknowledged,
		sender.ClassRetryable:    queue.ClassRetryable,
		sender.ClassPermanent:    queue.ClassPermanent,
		sender.ClassGone:         queue.ClassGone,
		sender.ClassRefused:      queue.ClassRefused,
		sender.ClassCredentials:  queue.ClassCredentials,
		sender.ClassRedirect:     queue.ClassRedirect,
	} {
		assert.Equal(t, name, record(sender.Attempt{Class: c}).Class, "the stored name of %v", c)
	}
	// The names are part of the stored format: pinned here, not derived.
	assert.Equal(t, []string{"acknowledged", "retryable", "permanent", "gone", "refused", "credentials", "redirect"},
		[]string{queue.ClassAcknowledged, queue.ClassRetryable, queue.ClassPermanent, queue.ClassGone,
			queue.ClassRefused, queue.ClassCredentials, queue.ClassRedirect})
}
