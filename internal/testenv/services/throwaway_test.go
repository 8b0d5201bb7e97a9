package services

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// isReady reports whether pg_isready finds the server accepting connections.
func isReady(t *testing.T, s *ThrowawayServer) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := exec.CommandContext(ctx, filepath.Join(s.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-t", "5").Run()
	return err == nil
}

// TestThrowawayPostgresStopStart: the throwaway server accepts connections once
// ThrowawayPostgres returns, none once stopped, and again on the same port once started
// again; a second Stop or Start is refused; its directory is gone after the test.
func TestThrowawayPostgresStopStart(t *testing.T) {
	var dir string
	t.Run("server", func(t *testing.T) {
		s := ThrowawayPostgres(t)
		dir = s.dir
		assert.Equal(t, "postgres://postgres@127.0.0.1:"+strconv.Itoa(s.Port())+"/postgres?sslmode=disable", s.URL())
		require.True(t, isReady(t, s), "running")
		assert.ErrorIs(t, s.Start(t.Context()), ErrRunning)
		require.NoError(t, s.Stop(t.Context()))
		assert.False(t, isReady(t, s), "stopped")
		assert.ErrorIs(t, s.Stop(t.Context()), ErrNotRunning)
		require.NoError(t, s.Start(t.Context()))
		assert.True(t, isReady(t, s), "running again on port %d", s.Port())
	})
	if dir != "" {
		assert.NoDirExists(t, dir, "removed at the end of its test")
	}
}

// TestPgBin: the newest version's directory holding both binaries is found (by number:
// 15 before 9); without any, and with no initdb in PATH, the error is
// ErrNoPostgresBinaries, on which ThrowawayPostgres skips (or fails when CI=true).
func TestPgBin(t *testing.T) {
	root := t.TempDir()
	t.Setenv("PATH", t.TempDir())
	pattern := filepath.Join(root, "*", "bin")
	_, err := pgBin(pattern)
	assert.ErrorIs(t, err, ErrNoPostgresBinaries)
	for _, v := range []string{"9", "15", "16"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, v, "bin"), 0o755))
		names := []string{"initdb", "pg_ctl"}
		if v == "16" {
			names = names[:1] // incomplete: no pg_ctl
		}
		for _, name := range names {
			require.NoError(t, os.WriteFile(filepath.Join(root, v, "bin", name), []byte("#!/bin/sh\n"), 0o755))
		}
	}
	got, err := pgBin(pattern)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "15", "bin"), got)
}
