package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// apiKeyBytes is the number of random bytes in a generated key (256 bits).
const apiKeyBytes = 32

// maxAPIKeyPrefix bounds the prefix accepted by GenerateAPIKey.
const maxAPIKeyPrefix = 32

// apiKeyHintChars is how many characters of a key's random part [NewAPIKey] keeps in
// APIKey.Prefix, after the key's prefix: 4 base64url characters, 24 of its 256 bits.
const apiKeyHintChars = 4

// GenerateAPIKey returns a new API key: prefix followed by 256 random bits
// from crypto/rand in unpadded base64url (43 characters), and the SHA-256
// digest of the whole key, which is what a server should store. The prefix
// (for example "dsk_") may be empty and may contain only ASCII letters,
// digits and "-", "_", "." (at most 32 characters).
func GenerateAPIKey(prefix string) (plaintext string, digest [32]byte, err error) {
	if len(prefix) > maxAPIKeyPrefix {
		return "", digest, errors.New("hookkit/auth: api key prefix too long")
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return "", digest, errors.New("hookkit/auth: api key prefix has an invalid character")
		}
	}
	var b [apiKeyBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", digest, errors.New("hookkit/auth: reading random bytes failed")
	}
	plaintext = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return plaintext, sha256.Sum256([]byte(plaintext)), nil
}

// APIKey is what a server keeps of an API key: never the key itself, only its SHA-256
// digest and what an operator needs to tell keys apart.
type APIKey struct {
	// ID names the key in a store, in logs and in the Principal ("apikey:" + ID). The
	// stores of this module use the first 8 hex digits of the digest (see [NewAPIKey]
	// and [NewMemoryAPIKeys]), unique within a store.
	ID string
	// Name is the operator's label, e.g. the customer the key was made for. May be "".
	Name string
	// Digest is the SHA-256 digest of the whole key, prefix included.
	Digest [32]byte
	// Prefix is the start of the key that may be shown to tell keys apart: the key's
	// prefix and the first 4 characters of its random part ("dsk_AbCd"). "" for a key
	// known only by its digest.
	Prefix string
	// Created is when the key was made; zero for a key known only by its digest.
	Created time.Time
	// LastUsed is when a request last presented the key, as recorded by
	// [APIKeyStore.Touch]: written at most once per APIKeyConfig.TouchInterval, so it
	// lags behind the last use by up to that interval (two, after a failed write).
	// Zero: never used.
	LastUsed time.Time
	// Revoked is when the key was revoked; zero while it is valid.
	Revoked time.Time
}

// APIKeyStore finds API keys by digest for an [APIKeyValidator]. Implementations are
// safe for concurrent use, and their errors never contain a key or a digest.
// [MemoryAPIKeys] keeps keys in memory; hookkit/auth/pgapikeys in Postgres;
// hookkit/auth/apikeytest checks an implementation.
type APIKeyStore interface {
	// Lookup returns the valid key whose Digest is digest, [ErrUnknownAPIKey] when
	// there is none or it is revoked, and another error when it cannot tell (the
	// validator then answers [ErrValidatorUnavailable]). It is called on every request,
	// so it should be an index lookup, not a scan; a revocation is seen by the next
	// Lookup.
	Lookup(ctx context.Context, digest [32]byte) (APIKey, error)
	// Touch records that the key id was used at at: LastUsed becomes at unless it is
	// later already (it never moves back). Touching an unknown id does nothing and
	// is not an error.
	Touch(ctx context.Context, id string, at time.Time) error
}

var (
	// ErrUnknownAPIKey is returned by an [APIKeyStore] for a digest or an ID it does
	// not hold, and by Lookup for a revoked key. The validator answers
	// [ErrInvalidCredentials] for it.
	ErrUnknownAPIKey = errors.New("hookkit/auth: unknown api key")
	// ErrInvalidAPIKeyConfig is returned by [NewAPIKeyValidator] for a config it refuses.
	ErrInvalidAPIKeyConfig = errors.New("hookkit/auth: invalid api key config")
)

// NewAPIKey makes a key for a store to add: plaintext is a new key from
// [GenerateAPIKey](prefix), to be shown once; key has its digest, ID (the first 8 hex
// digits of the digest), name, Prefix and Created = now. A store that already holds
// that ID (one chance in 2^32 per key held) makes another.
func NewAPIKey(prefix, name string, now time.Time) (plaintext string, key APIKey, err error) {
	plaintext, digest, err := GenerateAPIKey(prefix)
	if err != nil {
		return "", APIKey{}, err
	}
	return plaintext, APIKey{
		ID:      apiKeyID(digest),
		Name:    name,
		Digest:  digest,
		Prefix:  plaintext[:len(prefix)+apiKeyHintChars],
		Created: now,
	}, nil
}

// apiKeyID is the ID of a key with this digest: its first 8 hex digits, as the
// Principal's Subject has always had.
func apiKeyID(digest [32]byte) string { return hex.EncodeToString(digest[:4]) }

// Defaults of [APIKeyConfig].
const (
	// DefaultAPIKeyTouchInterval is APIKeyConfig.TouchInterval when that is zero.
	DefaultAPIKeyTouchInterval = time.Minute
	// DefaultAPIKeyTouchTimeout is APIKeyConfig.TouchTimeout when that is zero.
	DefaultAPIKeyTouchTimeout = time.Second
)

// APIKeyConfig configures an [APIKeyValidator]. Keys is required; the zero value of
// every other field is the documented default, and a negative duration is refused.
type APIKeyConfig struct {
	// Keys holds the accepted keys: [NewMemoryAPIKeys](digests...) for a fixed set, or
	// a store shared by several processes (hookkit/auth/pgapikeys). Required.
	Keys APIKeyStore
	// TouchInterval is how often at most a key's LastUsed is written: the first request
	// with a key writes it, and the next write waits until a request comes
	// TouchInterval or more after that one. 0 means DefaultAPIKeyTouchInterval
	// (1 minute); negative is refused.
	TouchInterval time.Duration
	// TouchTimeout bounds each Touch. 0 means DefaultAPIKeyTouchTimeout (1 second);
	// negative is refused.
	TouchTimeout time.Duration
	// Logger receives the failures of the store (Lookup errors other than unknown
	// keys, failed Touches) at level Warn, with the key's ID and never the key. nil:
	// they are not logged.
	Logger *slog.Logger
	// Now returns the current time, for LastUsed and the TouchInterval. nil: time.Now.
	Now func() time.Time
}

// APIKeyValidator accepts API keys sent as bearer tokens in the Authorization header,
// looked up by their SHA-256 digest in an [APIKeyStore]. It is safe for concurrent use.
//
// # Lookup by digest
//
// The presented token is hashed and the digest looked up in the store's map or index:
// O(1) in the number of keys, where comparing against every stored digest is linear.
// The lookup may take more or less time depending on the digest, but that tells an
// attacker at most something about the digests of the tokens they sent, which they
// can compute themselves: keys are 256 random bits, and SHA-256's preimage resistance
// means no digest, let alone the timing of a search for one, leads back to a key. The
// digest the store returns is still compared with the presented one with
// subtle.ConstantTimeCompare, so that a store answering for the wrong digest accepts
// nothing.
//
// # LastUsed
//
// The validator remembers in memory when it last touched each key (one entry per key
// that passed validation) and calls Touch at most once per TouchInterval per key; of
// concurrent requests only one makes the call. The call is synchronous, in the request
// that falls due, bounded by TouchTimeout and not cancelled when the request is: the
// store answered that request's Lookup a moment before, so the write costs one request
// a minute one more round trip to the same store, and needs no goroutine, queue or
// Close. A failed Touch does not fail the request; it is logged, and the next write is
// due a TouchInterval later. Several validators (replicas) each write once per interval.
//
// # Revocation
//
// Every request looks its key up in the store, so a key revoked in the store is
// refused from the next request on: at once for [MemoryAPIKeys], and for a shared
// store as soon as the revocation is committed.
//
// The Principal's Subject is "apikey:" followed by the key's ID (8 hex digits for the
// keys of this module's stores); Method is "bearer".
type APIKeyValidator struct {
	keys          APIKeyStore
	touchInterval time.Duration
	touchTimeout  time.Duration
	logger        *slog.Logger
	now           func() time.Time
	// touched maps a key ID to an *atomic.Int64: when (Unix nanoseconds) the
	// validator last called Touch for it.
	touched sync.Map
}

// NewAPIKeyValidator returns a validator accepting the valid keys of cfg.Keys. It
// returns an error wrapping [ErrInvalidAPIKeyConfig] for a nil store or a negative
// duration.
func NewAPIKeyValidator(cfg APIKeyConfig) (*APIKeyValidator, error) {
	switch {
	case cfg.Keys == nil:
		return nil, fmt.Errorf("%w: Keys is required", ErrInvalidAPIKeyConfig)
	case cfg.TouchInterval < 0:
		return nil, fmt.Errorf("%w: TouchInterval must not be negative (0 means the default)", ErrInvalidAPIKeyConfig)
	case cfg.TouchTimeout < 0:
		return nil, fmt.Errorf("%w: TouchTimeout must not be negative (0 means the default)", ErrInvalidAPIKeyConfig)
	}
	v := &APIKeyValidator{keys: cfg.Keys, touchInterval: cfg.TouchInterval, touchTimeout: cfg.TouchTimeout,
		logger: cfg.Logger, now: cfg.Now}
	if v.touchInterval == 0 {
		v.touchInterval = DefaultAPIKeyTouchInterval
	}
	if v.touchTimeout == 0 {
		v.touchTimeout = DefaultAPIKeyTouchTimeout
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Validate implements [Validator]: [ErrNoCredentials] without a bearer token,
// [ErrInvalidCredentials] for a malformed, unknown or revoked key, and
// [ErrValidatorUnavailable] when the store fails.
func (v *APIKeyValidator) Validate(ctx context.Context, r *http.Request) (*Principal, error) {
	tok, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(tok))
	k, err := v.keys.Lookup(ctx, sum)
	switch {
	case errors.Is(err, ErrUnknownAPIKey):
		return nil, ErrInvalidCredentials
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("%w: api key lookup: %w", ErrValidatorUnavailable, ctx.Err())
	case err != nil:
		if v.logger != nil {
			v.logger.LogAttrs(ctx, slog.LevelWarn, "hookkit/auth: api key lookup failed", slog.String("error", err.Error()))
		}
		return nil, fmt.Errorf("%w: api key store lookup failed", ErrValidatorUnavailable)
	}
	if subtle.ConstantTimeCompare(k.Digest[:], sum[:]) != 1 || !k.Revoked.IsZero() || k.ID == "" {
		return nil, ErrInvalidCredentials
	}
	v.touch(ctx, k.ID)
	return &Principal{Subject: "apikey:" + k.ID, Method: "bearer"}, nil
}

// touch calls the store's Touch for id if none was made for it in the last
// TouchInterval, and only in the one goroutine that claims the interval.
func (v *APIKeyValidator) touch(ctx context.Context, id string) {
	now := v.now()
	n := now.UnixNano()
	p, ok := v.touched.Load(id)
	if !ok {
		p, _ = v.touched.LoadOrStore(id, new(atomic.Int64))
	}
	last := p.(*atomic.Int64)
	prev := last.Load()
	if prev != 0 && n-prev < int64(v.touchInterval) {
		return
	}
	if !last.CompareAndSwap(prev, n) {
		return // another request claimed this interval
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.touchTimeout)
	defer cancel()
	if err := v.keys.Touch(tctx, id, now); err != nil && v.logger != nil {
		v.logger.LogAttrs(ctx, slog.LevelWarn, "hookkit/auth: recording api key use failed",
			slog.String("key_id", id), slog.String("error", err.Error()))
	}
}

var _ Validator = (*APIKeyValidator)(nil)
