package main

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
	"github.com/hookkit/hookkit/sender"
)

// TestOpenStoreKeepsTheStoresExtensions pins down that the store a --store DSN opens
// reaches the worker's dispatcher with its optional extensions: they are found by type
// assertion, so a wrapper that embedded queue.Store would hide them (the worker then
// polled Postgres instead of waking on LISTEN/NOTIFY, and never asked NextDue).
func TestOpenStoreKeepsTheStoresExtensions(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			st, err := openStore(t.Context(), storeDSN(t, kind))
			require.NoError(t, err)
			defer func() { require.NoError(t, st.close()) }()
			w, err := newWorkerRun(t.Context(), &env{stdout: io.Discard, stderr: io.Discard}, st.Store, nil,
				dispatch.Config{}, sender.Config{}, 1, time.Minute)
			require.NoError(t, err)
			defer func() { require.NoError(t, w.d.Shutdown(t.Context())) }()
			got := w.d.Store()
			_, nextDue := got.(queue.NextDuer)
			_, counter := got.(queue.EndpointCounter)
			assert.True(t, nextDue, "queue.NextDuer")
			assert.True(t, counter, "queue.EndpointCounter")
			if kind == "postgres" {
				_, notifier := got.(queue.Notifier)
				_, registry := got.(queue.Registry)
				assert.True(t, notifier, "queue.Notifier")
				assert.True(t, registry, "queue.Registry")
			}
		})
	}
}

// TestOpenStoreExclusive: sqlite:PATH?exclusive=true opens the file for this process
// alone (another Open is refused with sqlitequeue.ErrInUse while it is open), and the
// store it opens serves the worker like a shared one.
func TestOpenStoreExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookkit.db")
	st, err := openStore(t.Context(), "sqlite:"+path+"?exclusive=true&synchronous=normal")
	require.NoError(t, err)
	_, err = sqlitequeue.Open(t.Context(), path, sqlitequeue.Config{BusyTimeout: 50 * time.Millisecond})
	assert.ErrorIs(t, err, sqlitequeue.ErrInUse, "the file is this process's alone")
	w, err := newWorkerRun(t.Context(), &env{stdout: io.Discard, stderr: io.Discard}, st.Store, nil,
		dispatch.Config{}, sender.Config{}, 1, time.Minute)
	require.NoError(t, err)
	require.NoError(t, w.d.Shutdown(t.Context()))
	require.NoError(t, st.close())
	s, err := sqlitequeue.Open(t.Context(), path, sqlitequeue.Config{})
	require.NoError(t, err, "free once closed")
	require.NoError(t, s.Close())
}

// TestRegistryOnSQLiteLeavesNoFile: every command that needs the registry refuses a
// sqlite: store with a usage error (exit 2) before opening it, so the file it names is
// never created.
func TestRegistryOnSQLiteLeavesNoFile(t *testing.T) {
	for _, args := range [][]string{
		{"worker", "--registry", "--until-empty"},
		{"console", "--registry", "--addr", "127.0.0.1:0"},
		{"publish", "--registry", "--type", "a-b"},
		{"endpoint", "list"},
	} {
		path := filepath.Join(t.TempDir(), "new.db")
		r := runIn(t, "", append(args, "--store", "sqlite:"+path)...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
		assert.Contains(t, r.stderr, "needs a store with an endpoint registry (postgres://", args)
		_, err := os.Stat(path)
		assert.ErrorIs(t, err, fs.ErrNotExist, "%v created %s", args, path)
	}
}
