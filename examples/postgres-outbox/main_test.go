package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/testenv/services"
)

// TestRunDeliversOnlyTheCommittedOrders runs the demo against the test server: the
// webhooks of the committed orders (1001, 1003) are accepted once each, in order, the
// rolled-back order's (1002) never; the trace is in the order of the steps; the demo's
// schema is gone afterwards.
func TestRunDeliversOnlyTheCommittedOrders(t *testing.T) {
	url := services.Postgres(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, url), out.String())
	trace := out.String()
	t.Log("\n" + trace)

	assert.Equal(t, 1, strings.Count(trace, "receiver: accepted order-created for order 1001 (signature verified)"), trace)
	assert.Equal(t, 1, strings.Count(trace, "receiver: accepted order-created for order 1003 (signature verified)"), trace)
	assert.NotContains(t, trace, "for order 1002", "the rolled-back order's webhook is never delivered")
	assert.Equal(t, 2, strings.Count(trace, "receiver: accepted"), "two webhooks accepted in all")

	schema := "hookkit_outbox_demo_" + strconv.Itoa(os.Getpid())
	steps := []string{
		"schema " + schema + ": table orders and the hookkit store",
		"order 1001: BEGIN; INSERT INTO orders; 1 order-created webhook enqueued in the same transaction; COMMIT",
		"receiver: accepted order-created for order 1001",
		"order 1002: BEGIN; INSERT INTO orders; 1 order-created webhook enqueued in the same transaction; ROLLBACK (payment declined)",
		"order 1003: BEGIN; INSERT INTO orders; 1 order-created webhook enqueued in the same transaction; COMMIT",
		"receiver: accepted order-created for order 1003",
		"orders table: [1001 1003]; store: 0 pending, 0 leased, 0 dead; webhooks accepted for orders [1001 1003] (order 1002's never)",
		"schema " + schema + " dropped",
	}
	at := 0
	for _, s := range steps {
		i := strings.Index(trace[at:], s)
		if !assert.GreaterOrEqual(t, i, 0, "step %q, after what came before, in\n%s", s, trace) {
			break
		}
		at += i + len(s)
	}

	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var exists bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists))
	assert.False(t, exists, "the demo's schema is dropped")
}

// TestRunWithoutPostgres: with no server at the URL, run says so (errNoPostgres), within
// the connect timeout, and never prints the URL's password.
func TestRunWithoutPostgres(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // a port nothing listens on
	var out bytes.Buffer
	start := time.Now()
	err = run(t.Context(), &out, "postgres://demo:s3cret-pw@"+addr+"/test?sslmode=disable")
	require.ErrorIs(t, err, errNoPostgres)
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.Contains(t, err.Error(), addr+"/test")
	assert.NotContains(t, err.Error()+out.String(), "s3cret-pw")
	assert.Empty(t, out.String(), "nothing done")
}
