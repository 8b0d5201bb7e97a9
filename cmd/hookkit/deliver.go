package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookkit/hookkit/internal/safenet"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// safeClient is the HTTP client of send and of its token requests: it refuses private and
// loopback destinations unless --allow-private, and never follows redirects.
func safeClient(f *sendFlags) *http.Client {
	return safenet.NewClient(safenet.Policy{AllowPrivate: f.allowPrivate}, f.timeout)
}

// refusalHint names the flag that lifts a refusal err reports, for the one-line error of
// send: --allow-private for a loopback, private or link-local destination (the
// receiver's or the token endpoint's), --allow-http for a plain http:// URL. It is empty
// for other errors, and for destinations no flag admits (cloud metadata, multicast).
func refusalHint(err error) string {
	var re *safenet.RefusedError
	switch {
	case errors.As(err, &re) && re.Private:
		return " (use --allow-private to deliver to loopback, private or link-local addresses)"
	case errors.Is(err, sender.ErrPlainHTTP):
		return " (use --allow-http to allow plain http:// URLs)"
	}
	return ""
}

// attemptJSON is one attempt in the output of send.
type attemptJSON struct {
	Attempt  int    `json:"attempt"`
	Status   int    `json:"status,omitempty"`
	Duration string `json:"duration"`
	Class    string `json:"class"`
	Error    string `json:"error,omitempty"`
}

// resultJSON is the output of send.
type resultJSON struct {
	ID        string        `json:"id"`
	Type      string        `json:"type"`
	Delivered bool          `json:"delivered"`
	Attempts  []attemptJSON `json:"attempts"`
	Duration  string        `json:"duration"`
	Error     string        `json:"error,omitempty"`
}

// attemptLine is the progress line send prints on stderr when an attempt finishes:
// "attempt 2: 503 Service Unavailable (retryable, 2.1ms)", with the title of the receiver's
// problem document when it sent one ("attempt 1: 401 Unauthorized: Invalid signature
// (permanent, 1.2ms)"), the error instead of the status when there was no response. The error is the one the JSON result shows.
func attemptLine(a sender.Attempt) string {
	what := ""
	switch {
	case a.Status != 0:
		what = strconv.Itoa(a.Status) + " " + http.StatusText(a.Status)
		if a.Problem != nil && a.Problem.Title != "" {
			what += ": " + a.Problem.Title // the receiver's reason (bounded, sanitised)
		}
	case a.Err != nil:
		what = oneLine(a.Err.Error())
	}
	return fmt.Sprintf("attempt %d: %s (%s, %s)", a.Number, what, a.Class, a.Duration.Round(time.Microsecond))
}

// send validates the flags, delivers the event and prints the result.
func send(ctx context.Context, e *env, f *sendFlags) error {
	if f.url == "" {
		return usagef("--url is required")
	}
	u, err := checkURL("url", f.url, f)
	if err != nil {
		return err
	}
	if f.basic.set && u.Scheme == "http" && !f.allowInsecureBasic {
		return usagef("--basic over plain http:// sends the password in clear: refused without --allow-insecure-basic")
	}
	if f.maxAttempts < 1 {
		return usagef("--max-attempts must be at least 1")
	}
	if f.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	scheme, keys, err := schemeAndKeys(&f.scheme, f.secrets)
	if err != nil {
		return err
	}
	ks, err := signature.NewKeySet(keys...)
	if err != nil {
		return usagef("--secret: %v", err)
	}
	ev, err := buildEvent(e, f)
	if err != nil {
		return err
	}
	creds, err := credentials(f)
	if err != nil {
		return err
	}
	cfg := sender.Config{
		AllowPrivate:       f.allowPrivate,
		AllowHTTP:          f.allowHTTP,
		AllowInsecureBasic: f.allowInsecureBasic,
		Retry:              sender.RetryPolicy{MaxAttempts: f.maxAttempts},
	}
	if !f.quiet {
		cfg.Observer.AttemptFinished = func(_ context.Context, _ sender.AttemptInfo, a sender.Attempt) {
			fmt.Fprintln(e.stderr, attemptLine(a))
		}
	}
	s, err := sender.New(cfg)
	if err != nil {
		return usagef("%v", err)
	}
	defer s.CloseIdleConnections()
	res, sendErr := s.Send(ctx, sender.Endpoint{URL: f.url, Scheme: scheme, Keys: ks, Credentials: creds, Timeout: f.timeout}, ev)
	out := resultJSON{ID: ev.ID, Type: ev.Type, Attempts: []attemptJSON{}}
	if res != nil {
		out.Delivered = res.Delivered
		out.Duration = res.Duration.Round(time.Microsecond).String()
		for i, a := range res.Attempts {
			aj := attemptJSON{Attempt: i + 1, Status: a.Status, Duration: a.Duration.Round(time.Microsecond).String(), Class: a.Class.String()}
			if a.Err != nil {
				aj.Error = oneLine(a.Err.Error())
			}
			out.Attempts = append(out.Attempts, aj)
		}
	}
	if sendErr != nil {
		out.Error = oneLine(sendErr.Error())
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(e.stdout, string(b)); err != nil {
		return err
	}
	switch {
	case out.Delivered:
		return nil
	case sendErr != nil:
		return fmt.Errorf("not delivered: %w%s", sendErr, refusalHint(sendErr))
	}
	return errors.New("not delivered")
}
