package sender

import (
	"math"
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
	assert.Equal(t, p, RetryPolicy{}.WithDefaults(), "a zero policy is the default")
	// Only zero fields take defaults.
	q := RetryPolicy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond}.WithDefaults()
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
		RandomizationFactor: -1, MaxAttempts: 8, MaxElapsedTime: time.Hour}.WithDefaults()
	want := []time.Duration{100, 300, 900, 1000, 1000, 1000, 1000}
	for i, w := range want {
		d, ok := p.Next(i+1, 0, 0)
		require.True(t, ok, "after attempt %d", i+1)
		assert.Equal(t, w*time.Millisecond, d, "after attempt %d", i+1)
	}
	_, ok := p.Next(8, 0, 0)
	assert.False(t, ok, "MaxAttempts reached")
}

func TestNextJitterBounds(t *testing.T) {
	p := RetryPolicy{InitialInterval: time.Second, RandomizationFactor: 0.5}.WithDefaults()
	seen := map[time.Duration]bool{}
	for range 1000 {
		d, ok := p.Next(2, 0, 0) // 2 s ± 50 %
		require.True(t, ok)
		assert.GreaterOrEqual(t, d, time.Second)
		assert.LessOrEqual(t, d, 3*time.Second+1)
		seen[d] = true
	}
	assert.Greater(t, len(seen), 100, "randomized")
}

func TestNextMaxElapsedTime(t *testing.T) {
	p := RetryPolicy{InitialInterval: time.Second, RandomizationFactor: -1, MaxAttempts: -1, MaxElapsedTime: 10 * time.Second}.WithDefaults()
	d, ok := p.Next(1, 8*time.Second, 0)
	assert.True(t, ok)
	assert.Equal(t, time.Second, d)
	_, ok = p.Next(1, 9500*time.Millisecond, 0)
	assert.False(t, ok, "the next attempt would start after MaxElapsedTime")
	// Unlimited attempts: only time stops it.
	p.MaxElapsedTime = time.Hour
	_, ok = p.Next(1000, 0, 0)
	assert.True(t, ok)
}

// TestNextSaturates: an elapsed time near the largest Duration (measured from a zero
// time.Time a store lost, say) stops the retries; elapsed+delay must not wrap around to a
// negative sum that is "within" MaxElapsedTime and retry for ever.
func TestNextSaturates(t *testing.T) {
	start := time.Time{} // a lost attempt Start
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	huge := now.Sub(start)
	require.Equal(t, time.Duration(math.MaxInt64), huge, "time.Sub saturates")
	for _, p := range []RetryPolicy{
		{MaxAttempts: -1},
		{MaxAttempts: -1, MaxElapsedTime: time.Hour, RandomizationFactor: -1},
		{MaxAttempts: -1, InitialInterval: time.Hour, MaxInterval: 100 * time.Hour},
	} {
		for _, elapsed := range []time.Duration{huge, math.MaxInt64 - time.Millisecond, math.MaxInt64 / 2 * 2} {
			_, ok := p.Next(3, elapsed, 0)
			assert.False(t, ok, "%+v, elapsed %v: far beyond MaxElapsedTime", p, elapsed)
			_, ok = p.Next(3, elapsed, 30*time.Second)
			assert.False(t, ok, "%+v, elapsed %v, with a Retry-After", p, elapsed)
		}
	}
	_, ok := RetryPolicy{MaxAttempts: -1, MaxRetryAfter: math.MaxInt64, MaxElapsedTime: math.MaxInt64 - 1}.Next(1, time.Hour, math.MaxInt64)
	assert.False(t, ok, "elapsed plus a huge Retry-After saturates past the bound")
	d, ok := RetryPolicy{MaxAttempts: -1}.Next(1, -time.Hour, 0)
	assert.True(t, ok, "a negative elapsed (clock going backwards) counts as none")
	assert.Positive(t, d)
}

// TestSatAdd pins the saturating sum at both ends of the range.
func TestSatAdd(t *testing.T) {
	assert.Equal(t, time.Duration(math.MaxInt64), satAdd(math.MaxInt64, 1))
	assert.Equal(t, time.Duration(math.MaxInt64), satAdd(math.MaxInt64-5, 10))
	assert.Equal(t, time.Duration(math.MinInt64), satAdd(math.MinInt64, -1))
	assert.Equal(t, 3*time.Second, satAdd(time.Second, 2*time.Second))
	assert.Equal(t, time.Duration(-1), satAdd(math.MaxInt64, math.MinInt64))
}

// TestNextAndLongestDelayFillDefaults: a policy with zero fields behaves as its defaults,
// whether or not WithDefaults was called first.
func TestNextAndLongestDelayFillDefaults(t *testing.T) {
	raw := RetryPolicy{RandomizationFactor: -1}
	full := raw.WithDefaults()
	assert.Equal(t, full, full.WithDefaults(), "idempotent")
	for n := 1; n < DefaultMaxAttempts+1; n++ {
		d1, ok1 := raw.Next(n, 0, 0)
		d2, ok2 := full.Next(n, 0, 0)
		assert.Equal(t, ok2, ok1, "n=%d", n)
		assert.Equal(t, d2, d1, "n=%d", n)
		assert.Equal(t, full.LongestDelay(n, 0), raw.LongestDelay(n, 0), "n=%d", n)
	}
	_, ok := raw.Next(DefaultMaxAttempts, 0, 0)
	assert.False(t, ok, "DefaultMaxAttempts applies to a zero MaxAttempts")
}

// TestLongestDelay pins the upper bound of the wait before retry n.
func TestLongestDelay(t *testing.T) {
	p := RetryPolicy{InitialInterval: time.Second, MaxInterval: 4 * time.Second, RandomizationFactor: 0.5}
	assert.Equal(t, 1500*time.Millisecond, p.LongestDelay(1, 0))
	assert.Equal(t, 3*time.Second, p.LongestDelay(2, 0))
	assert.Equal(t, 6*time.Second, p.LongestDelay(3, 0), "capped by MaxInterval, then the jitter")
	assert.Equal(t, 6*time.Second, p.LongestDelay(50, 0))
	assert.Equal(t, 30*time.Second, p.LongestDelay(2, 30*time.Second), "a Retry-After honoured")
	assert.Equal(t, DefaultMaxRetryAfter, p.LongestDelay(2, time.Hour), "capped by MaxRetryAfter")
	assert.Equal(t, 4*time.Second, RetryPolicy{InitialInterval: time.Second, MaxInterval: 4 * time.Second, RandomizationFactor: -1}.LongestDelay(9, 0))
	assert.Equal(t, time.Duration(math.MaxInt64), RetryPolicy{InitialInterval: math.MaxInt64}.LongestDelay(1, 0), "saturated")
	for n := 1; n < DefaultMaxAttempts; n++ {
		for range 50 {
			d, ok := p.Next(n, 0, 0)
			require.True(t, ok)
			assert.LessOrEqual(t, d, p.LongestDelay(n, 0)+1, "n=%d", n)
		}
	}
}

func TestNextRetryAfter(t *testing.T) {
	p := RetryPolicy{InitialInterval: time.Second, RandomizationFactor: -1, MaxRetryAfter: time.Minute}.WithDefaults()
	d, _ := p.Next(1, 0, 7*time.Second)
	assert.Equal(t, 7*time.Second, d, "Retry-After replaces the backoff")
	d, _ = p.Next(1, 0, time.Hour)
	assert.Equal(t, time.Minute, d, "capped by MaxRetryAfter")
	_, ok := RetryPolicy{MaxElapsedTime: 30 * time.Second, MaxRetryAfter: time.Hour}.WithDefaults().Next(1, 0, time.Minute)
	assert.False(t, ok, "a Retry-After past MaxElapsedTime ends the retries")
	ignore := RetryPolicy{InitialInterval: time.Second, RandomizationFactor: -1, MaxRetryAfter: -1}.WithDefaults()
	d, _ = ignore.Next(1, 0, time.Hour)
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
