package redisseen_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookkit/hookkit/receiver"
)

// BenchmarkReserveCommit is what the receiver asks of Redis for a new delivery: one Reserve
// (SET NX PX) and one Commit (EVALSHA), each op on a new id, from parallel goroutines on one
// client. Compare with BenchmarkRedisPing, the round trip on the same server and client.
func BenchmarkReserveCommit(b *testing.B) {
	c := newClient(b)
	s := newStore(b, c, freshPrefix(b, c))
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := "evt_" + strconv.FormatInt(next.Add(1), 10)
			res, tok, err := s.Reserve(ctx, id, time.Minute)
			if err != nil || res != receiver.Reserved {
				b.Errorf("Reserve(%s) = %v, %v", id, res, err)
				return
			}
			if err := s.Commit(ctx, id, tok, time.Minute); err != nil {
				b.Errorf("Commit(%s): %v", id, err)
				return
			}
		}
	})
}

// BenchmarkReserveSeen is a duplicate delivery: Reserve of an id already seen (a failed SET
// NX and a GET).
func BenchmarkReserveSeen(b *testing.B) {
	c := newClient(b)
	s := newStore(b, c, freshPrefix(b, c))
	ctx := context.Background()
	_, tok, err := s.Reserve(ctx, "evt_1", time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Commit(ctx, "evt_1", tok, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, _, err := s.Reserve(ctx, "evt_1", time.Minute); err != nil || res != receiver.AlreadySeen {
				b.Errorf("Reserve = %v, %v", res, err)
				return
			}
		}
	})
}

// BenchmarkRedisPing is one round trip (PING) on the same server, client and parallelism
// as the benchmarks above.
func BenchmarkRedisPing(b *testing.B) {
	c := newClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Ping(ctx).Err(); err != nil {
				b.Errorf("PING: %v", err)
				return
			}
		}
	})
}
