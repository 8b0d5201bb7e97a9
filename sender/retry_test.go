package sender

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultRetryPolicy(t *testing.T) {
	p := DefaultRetryPolicy()
	assert.Equal(t, RetryPolicy{
		InitialInterval:     time.Second,
		MaxInterval:         time.Minute,
		Multiplier:          2,
		RandomizationFactor: 0.5,
		MaxAttempts:         8,
		MaxElapsedTime:      15 * time.Minute,
		MaxRetryAfter:       5 * time.Minute,
	}, p)
	assert.NoError(t, p.Validate())
	assert.Equal(t, p, RetryPolicy{}.withDefaults(), "a zero policy is the default")
	// Only zero fields take defaults.
	q := RetryPolicy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond}.withDefaults()
	assert.Equal(t, 3, q.MaxAttempts)
	assert.Equal(t, 10*time.Millisecond, q.InitialInterval)
	assert.Equal(t, time.Minute, q.MaxInterval)
}

func TestRetryPolicyValidate(t *testing.T) {
	for _, p := range []RetryPolicy{
		{InitialInterval: -1},
		{MaxInterval: -1},
		{Multiplier: 0.5},
		{RandomizationFactor: 1.5},
		{MaxAttempts: -1, MaxElapsedTime: -1},
	} {
		assert.ErrorIs(t, p.Validate(), ErrInvalidPolicy, "%+v", p)
	}
	for _, p := range []RetryPolicy{{}, {MaxAttempts: -1}, {MaxElapsedTime: -1}, {RandomizationFactor: -1}, {Multiplier: 1}} {
		assert.NoError(t, p.Validate(), "%+v", p)
	}
}

func TestNextWithoutJitter(t *testing.T) {
	p := RetryPolicy{InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, Multiplier: 3,
		RandomizationFactor: -1, MaxAttempts: 8, MaxElapsedTime: time.Hour}.withDefaults()
	want := []time.Duration{100, 300, 900, 1000, 1000, 1000, 1000}
	for i, w := range want {
		d, ok := p.next(i+1, 0, 0)
		require.True(t, ok, "after attempt %d", i+1)
		assert.Equal(t, w*time.Millisecond, d, "after attempt %d", i+1)
	}
	_, ok := p.next(8, 0, 0)
	assert.False(t, ok, "MaxAttempts reached")
}

func TestNextJitterBounds(t *testing.T) {
	p := RetryPolicy{InitialInterval: time.Second, RandomizationFactor: 0.5}.withDefaults()
	seen := map[time.Duration]bool{}
	for range 1000 {
		d, ok := p.next(2, 0, 0) // 2 s ± 50 %
		require.True(t, ok)
		assert.GreaterOrEqual(t, d, time.Second)
		assert.LessOrEqual(t, d, 3*time.Second+1)
		seen[d] = true
	}
	assert.Greater(t, len(seen), 100, "randomized")
}

func TestNextMaxElapsedTime(t *testing.T) {
	p := RetryPolicy{InitialInterval: time.Second, RandomizationFactor: -1, MaxAttempts: -1, MaxElapsedTime: 10 * time.Second}.withDefaults()
	d, ok := p.next(1, 8*time.Second, 0)
	assert.True(t, ok)
	assert.Equal(t, time.Second, d)
	_, ok = p.next(1, 9500*time.Millisecond, 0)
	assert.False(t, ok, "the next attempt would start after MaxElapsedTime")
	// Unlimited attempts: only time stops it.
	p.MaxElapsedTime = time.Hour
	_, ok = p.next(1000, 0, 0)
	assert.True(t, ok)
}

func TestNextRetryAfter(t *testing.T) {
	p := RetryPolicy{InitialInterval: time.Second, RandomizationFactor: -1, MaxRetryAfter: time.Minute}.withDefaults()
	d, _ := p.next(1, 0, 7*time.Second)
	assert.Equal(t, 7*time.Second, d, "Retry-After replaces the backoff")
	d, _ = p.next(1, 0, time.Hour)
	assert.Equal(t, time.Minute, d, "capped by MaxRetryAfter")
	_, ok := RetryPolicy{MaxElapsedTime: 30 * time.Second, MaxRetryAfter: time.Hour}.withDefaults().next(1, 0, time.Minute)
	assert.False(t, ok, "a Retry-After past MaxElapsedTime ends the retries")
	ignore := RetryPolicy{InitialInterval: time.Second, RandomizationFactor: -1, MaxRetryAfter: -1}.withDefaults()
	d, _ = ignore.next(1, 0, time.Hour)
	assert.Equal(t, time.Second, d, "negative MaxRetryAfter ignores Retry-After")
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                               0,
		"0":                              0,
		"1":                              time.Second,
		" 120 ":                          2 * time.Minute,
		"-5":                             0,
		"1.5":                            0,
		"soon":                           0,
		"99999999999999999999999":        maxRetryAfterSeconds * time.Second,
		"Fri, 02 Jan 2026 15:04:35 GMT":  30 * time.Second,
		"Friday, 02-Jan-26 15:05:05 GMT": time.Minute,      // RFC 850
		"Fri Jan  2 15:04:15 2026":       10 * time.Second, // asctime
		"Fri, 02 Jan 2026 15:00:00 GMT":  0,                // past
	}
	for in, want := range cases {
		assert.Equal(t, want, parseRetryAfter(in, now), "%q", in)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Now()
	for _, s := range []string{"", "0", "120", "-1", "Fri, 02 Jan 2026 15:04:35 GMT", now.Add(time.Minute).UTC().Format(http.TimeFormat), "1e9", "18446744073709551616"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := parseRetryAfter(s, now)
		if d < 0 || d > maxRetryAfterSeconds*time.Second {
			t.Fatalf("parseRetryAfter(%q) = %v", s, d)
		}
	})
}

func TestClassifyStatus(t *testing.T) {
	want := map[int]Class{200: ClassAcknowledged, 204: ClassAcknowledged, 299: ClassAcknowledged,
		300: ClassRedirect, 301: ClassRedirect, 304: ClassRedirect, 308: ClassRedirect,
		400: ClassPermanent, 401: ClassPermanent, 403: ClassPermanent, 404: ClassPermanent, 409: ClassPermanent,
		408: ClassRetryable, 425: ClassRetryable, 429: ClassRetryable, 410: ClassGone,
		500: ClassRetryable, 502: ClassRetryable, 503: ClassRetryable, 504: ClassRetryable, 507: ClassRetryable,
		501: ClassPermanent, 505: ClassPermanent, 100: ClassPermanent, 600: ClassPermanent}
	for code, c := range want {
		assert.Equal(t, c, classifyStatus(code), "%d", code)
	}
}
