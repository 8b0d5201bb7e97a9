// Package pgqueue is a durable queue.Store kept in a Postgres schema.
package pgqueue
