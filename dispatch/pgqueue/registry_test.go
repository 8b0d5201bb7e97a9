package pgqueue_test

import (
	"testing"

	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// TestRegistryConformance runs the queue.Registry conformance suite, each subtest in a
// schema of its own.
func TestRegistryConformance(t *testing.T) {
	queuetest.RunRegistry(t, func(t *testing.T) queue.Registry { return newStore(t, pgqueue.Config{}) })
	queuetest.RunDeletedPurger(t, func(t *testing.T) queue.Registry { return newStore(t, pgqueue.Config{}) })
	queuetest.RunSpecReplacer(t, func(t *testing.T) queue.Registry { return newStore(t, pgqueue.Config{}) })
	queuetest.RunEndpointsPutter(t, func(t *testing.T) queue.Registry { return newStore(t, pgqueue.Config{}) })
}
