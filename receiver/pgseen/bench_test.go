package pgseen_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/pgseen"
)

// BenchmarkReserveCommit: one new id reserved and committed per op (two round trips), from
// GOMAXPROCS goroutines; ids/s is the figure.
func BenchmarkReserveCommit(b *testing.B) {
	s := newStore(b, pgseen.Config{})
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			id := fmt.Sprint("id-", n.Add(1))
			res, tok, err := s.Reserve(ctx, id, time.Minute)
			if err != nil || res != receiver.Reserved {
				b.Fatal(res, err)
			}
			if err := s.Commit(ctx, id, tok, 10*time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ids/s")
}

// BenchmarkReserveSeen: Reserve of an id that is seen (a duplicate): two statements in the
// function, one round trip.
func BenchmarkReserveSeen(b *testing.B) {
	ctx := context.Background()
	s := newStore(b, pgseen.Config{})
	_, tok, err := s.Reserve(ctx, "dup", time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Commit(ctx, "dup", tok, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if res, _, err := s.Reserve(ctx, "dup", time.Minute); err != nil || res != receiver.AlreadySeen {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkTxDelivery is the database work of one delivery in the transactional mode:
// Reserve, RunTx with one INSERT (BEGIN, lock, insert, mark, COMMIT), the middleware's
// Commit; from GOMAXPROCS goroutines.
func BenchmarkTxDelivery(b *testing.B) {
	pool := shared.Get(b)
	s := newStore(b, pgseen.Config{})
	createPayments(b, pool, s.Schema())
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			id := fmt.Sprint("id-", n.Add(1))
			res, tok, err := s.Reserve(ctx, id, time.Minute)
			if err != nil || res != receiver.Reserved {
				b.Fatal(res, err)
			}
			if err := s.RunTx(ctx, pool, id, func(ctx context.Context, tx pgx.Tx) error {
				return insertPayment(ctx, tx, s.Schema(), id)
			}); err != nil {
				b.Fatal(err)
			}
			if err := s.Commit(ctx, id, tok, 10*time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
