package sender_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/sender"
)

// hangingTransport never answers: it derives a context from the request's, as an
// instrumenting RoundTripper or the transport itself does, waits for it to end and
// records how it ended.
type hangingTransport struct {
	derivedErr, requestErr chan error
}

func (h hangingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	<-ctx.Done()
	h.derivedErr <- ctx.Err()
	h.requestErr <- r.Context().Err()
	return nil, context.Cause(ctx)
}

// TestAttemptTimeoutDerivedContextsReportDeadlineExceeded: when an attempt's timeout
// passes, the request's context and every context derived from it report
// context.DeadlineExceeded (as context.WithTimeout's do), and the attempt's error says
// which timeout passed.
func TestAttemptTimeoutDerivedContextsReportDeadlineExceeded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := hangingTransport{derivedErr: make(chan error, 1), requestErr: make(chan error, 1)}
		s, err := sender.New(sender.Config{WrapTransport: func(http.RoundTripper) http.RoundTripper { return h }})
		require.NoError(t, err)
		ep := sender.Endpoint{URL: "https://hooks.example.com/x", Timeout: 2 * time.Millisecond, Retry: fastRetry(1)}
		start := time.Now()
		res, err := s.Send(context.Background(), ep, sndEvent(t, "envelope-sent"))
		assert.Equal(t, 2*time.Millisecond, time.Since(start), "the attempt ended at its timeout")
		assert.ErrorIs(t, <-h.derivedErr, context.DeadlineExceeded, "a derived context")
		assert.ErrorIs(t, <-h.requestErr, context.DeadlineExceeded, "the request's context")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Len(t, res.Attempts, 1)
		assert.EqualError(t, res.Attempts[0].Err, "attempt timed out after 2ms: context deadline exceeded")
	})
}
