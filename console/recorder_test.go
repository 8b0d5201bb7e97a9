package console_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/console"
	"github.com/hookkit/hookkit/sender"
)

// The ring keeps the last n attempts of each endpoint, oldest first, and the last problem
// title; other endpoints are kept apart.
func TestRecorderRing(t *testing.T) {
	rec := console.NewRecorder(3)
	for i := 1; i <= 5; i++ {
		a := sender.Attempt{Number: i, Start: t0.Add(time.Duration(i) * time.Second), Duration: time.Duration(i) * time.Millisecond,
			Status: 500 + i, Class: sender.ClassRetryable}
		if i == 2 {
			a.Problem = &sender.Problem{Title: "Invalid signature"}
		}
		rec.AttemptFinished(context.Background(), sender.AttemptInfo{Endpoint: "a"}, a)
	}
	rec.AttemptFinished(context.Background(), sender.AttemptInfo{Endpoint: "b"},
		sender.Attempt{Number: 1, Start: t0, Status: 200, Class: sender.ClassAcknowledged})

	got, problem := rec.Recent("a")
	require.Len(t, got, 3)
	for i, s := range got {
		n := i + 3
		assert.Equal(t, n, s.Number)
		assert.True(t, s.Start.Equal(t0.Add(time.Duration(n)*time.Second)))
		assert.Equal(t, time.Duration(n)*time.Millisecond, s.Duration)
		assert.Equal(t, 500+n, s.Status)
		assert.Equal(t, "retryable", s.Class)
	}
	assert.Equal(t, "Invalid signature", problem, "the last title seen is kept")
	got, problem = rec.Recent("b")
	require.Len(t, got, 1)
	assert.Equal(t, "acknowledged", got[0].Class)
	assert.Empty(t, problem)
	got, _ = rec.Recent("unknown")
	assert.Nil(t, got)
	assert.Len(t, mustRecent(console.NewRecorder(0), t), console.DefaultRecorderSize)
}

func mustRecent(rec *console.Recorder, t *testing.T) []console.Sample {
	for i := range console.DefaultRecorderSize + 7 {
		rec.AttemptFinished(context.Background(), sender.AttemptInfo{Endpoint: "x"}, sender.Attempt{Number: i})
	}
	got, _ := rec.Recent("x")
	require.Equal(t, console.DefaultRecorderSize+6, got[len(got)-1].Number)
	return got
}

// Beyond MaxRecorderEndpoints endpoints, attempts are counted and not kept.
func TestRecorderBoundsEndpoints(t *testing.T) {
	rec := console.NewRecorder(2)
	for i := range console.MaxRecorderEndpoints + 10 {
		rec.AttemptFinished(context.Background(), sender.AttemptInfo{Endpoint: fmt.Sprint("ep", i)}, sender.Attempt{Number: 1})
	}
	assert.Equal(t, uint64(10), rec.Dropped())
	got, _ := rec.Recent(fmt.Sprint("ep", console.MaxRecorderEndpoints))
	assert.Nil(t, got)
	got, _ = rec.Recent("ep0")
	assert.Len(t, got, 1)
}

// Recording from many goroutines at once, while reading (run with -race).
func TestRecorderConcurrent(t *testing.T) {
	rec := console.NewRecorder(16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				rec.AttemptFinished(context.Background(), sender.AttemptInfo{Endpoint: fmt.Sprint("ep", g%3)},
					sender.Attempt{Number: i, Class: sender.ClassAcknowledged})
				if i%50 == 0 {
					rec.Recent("ep0")
				}
			}
		})
	}
	wg.Wait()
	for i := range 3 {
		got, _ := rec.Recent(fmt.Sprint("ep", i))
		assert.Len(t, got, 16)
	}
}
