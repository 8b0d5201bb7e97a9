package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// TestOpenStoreKeepsTheStoresExtensions pins down that the store a --store DSN opens
// reaches the dispatcher and the console with its optional extensions: they are found by
// type assertion, so a wrapper that embedded queue.Store would hide them (the worker then
// polled Postgres instead of waking on LISTEN/NOTIFY, and the console counted by paging).
func TestOpenStoreKeepsTheStoresExtensions(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			st, err := openStore(t.Context(), storeDSN(t, kind))
			require.NoError(t, err)
			defer func() { require.NoError(t, st.close()) }()
			_, nextDue := st.Store.(queue.NextDuer)
			_, counter := st.Store.(queue.EndpointCounter)
			assert.True(t, nextDue, "queue.NextDuer")
			assert.True(t, counter, "queue.EndpointCounter")
			if kind == "postgres" {
				_, notifier := st.Store.(queue.Notifier)
				_, registry := st.Store.(queue.Registry)
				assert.True(t, notifier, "queue.Notifier")
				assert.True(t, registry, "queue.Registry")
			}
		})
	}
}
