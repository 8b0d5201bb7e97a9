package dispatch

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// Errors of the endpoint specs kept in a registry.
var (
	// ErrNotEncodable is returned by Subscribe on a dispatcher with a Config.Registry: a
	// Subscription's keys and credentials are opaque (no signature.Key, auth.Credentials
	// or custom implementation gives its secret back), so it cannot be stored for other
	// instances. Describe the endpoint with an EndpointSpec and call Register.
	ErrNotEncodable = errors.New("hookkit/dispatch: a Subscription cannot be stored in a registry (its keys and credentials are opaque): use Register with an EndpointSpec")
	// ErrSpecSecrets is returned by SpecCodec.Seal (and Register) for a spec holding
	// secrets when the codec has no Key and AllowPlaintext is false: secrets are not
	// written to a database in clear unless the application says so.
	ErrSpecSecrets = errors.New("hookkit/dispatch: endpoint spec holds secrets and no registry key is configured (Config.RegistryKey; Config.RegistryPlaintext stores them in clear)")
	// ErrSpecKey is returned by SpecCodec.Open for a sealed spec that none of the codec's
	// keys opens: sealed under another key, altered, or moved to another endpoint's record.
	ErrSpecKey = errors.New("hookkit/dispatch: endpoint spec cannot be opened with the configured registry keys")
	// ErrInvalidSpec is wrapped by the errors of SpecCodec.Open for bytes that are no
	// spec, and of EndpointSpec.Subscription for a spec it cannot build.
	ErrInvalidSpec = errors.New("hookkit/dispatch: invalid endpoint spec")
)

// EndpointSpec describes an endpoint in plain data, so that it can be stored in a
// registry and rebuilt by every instance: the fields of the CLI's endpoints file. Its
// secrets are auth.Password values, which print as "[REDACTED]": a spec may be logged.
type EndpointSpec struct {
	// ID names the endpoint. Required.
	ID string
	// URL is where the events are POSTed.
	URL string
	// Scheme is the signature scheme by name (signature.SchemeByName): "" is "standard".
	Scheme string
	// Secrets are the signing secrets in the scheme's text form (whsec_… for standard),
	// named key-1, key-2… in order. None: requests are not signed.
	Secrets []auth.Password
	// Filter are the event-type patterns (event.NewFilter): none matches every type.
	Filter []string
	// Ordered and MaxInFlight are Subscription's.
	Ordered     bool
	MaxInFlight int
	// Timeout bounds one attempt (sender.Endpoint.Timeout); 0 is the Sender's default.
	Timeout time.Duration
	// Bearer, when not empty, is sent as "Authorization: Bearer …".
	Bearer auth.Password
	// BasicUser and BasicPassword, when BasicUser is not empty, are HTTP Basic
	// credentials (https:// only).
	BasicUser     string
	BasicPassword auth.Password
	// OAuth2, when not nil, obtains tokens with the client credentials grant.
	OAuth2 *OAuth2Spec
}

// OAuth2Spec is the client-credentials configuration of an EndpointSpec.
type OAuth2Spec struct {
	TokenURL     string
	ClientID     string
	ClientSecret auth.Password
	Scopes       []string
	Params       map[string]string
	// AuthStyle is "header" (the default, "") or "params".
	AuthStyle string
}

// SpecOptions say how EndpointSpec.Subscription builds credentials. The zero value: the
// OAuth2 token endpoint must be https:// and public (auth's default client).
type SpecOptions struct {
	// AllowHTTP admits a plain http:// OAuth2 token URL (for loopback test servers).
	AllowHTTP bool
	// HTTPClient fetches OAuth2 tokens; nil: auth.NewClientCredentials's default (the
	// SSRF-guarded client that refuses private addresses).
	HTTPClient *http.Client
}

// hasSecrets reports whether the spec holds anything secret.
func (s *EndpointSpec) hasSecrets() bool {
	return len(s.Secrets) > 0 || !s.Bearer.IsZero() || !s.BasicPassword.IsZero() ||
		(s.OAuth2 != nil && !s.OAuth2.ClientSecret.IsZero())
}

// Subscription builds the subscription the spec describes: the scheme's keys parsed from
// the secrets, the credentials (at most one of Bearer, Basic and OAuth2). Its errors wrap
// ErrInvalidSpec and name the field, never a secret. Subscribe (or Register) checks the
// rest (the URL, the timeout).
func (s EndpointSpec) Subscription(opts SpecOptions) (Subscription, error) {
	fail := func(field, format string, args ...any) (Subscription, error) {
		return Subscription{}, fmt.Errorf("%w: endpoint %q: %s: %s", ErrInvalidSpec, s.ID, field, fmt.Sprintf(format, args...))
	}
	if s.ID == "" {
		return fail("id", "required")
	}
	name := s.Scheme
	if name == "" {
		name = "standard"
	}
	scheme, err := signature.SchemeByName(name)
	if err != nil {
		return fail("scheme", "unknown %q", s.Scheme)
	}
	ep := sender.Endpoint{ID: s.ID, URL: s.URL, Scheme: scheme, Timeout: s.Timeout}
	if len(s.Secrets) > 0 {
		keys := make([]signature.Key, 0, len(s.Secrets))
		for i, sec := range s.Secrets {
			k, err := scheme.ParseKey("key-"+strconv.Itoa(i+1), sec.Reveal())
			if err != nil {
				return fail("secrets["+strconv.Itoa(i)+"]", "not a valid %s secret", scheme.Name())
			}
			keys = append(keys, k)
		}
		if ep.Keys, err = signature.NewKeySet(keys...); err != nil {
			return fail("secrets", "%v", err)
		}
	}
	filter, err := event.NewFilter(s.Filter...)
	if err != nil {
		return fail("filter", "%v", err)
	}
	n := 0
	for _, set := range []bool{!s.Bearer.IsZero(), s.BasicUser != "", s.OAuth2 != nil} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return fail("credentials", "bearer, basic and oauth2 exclude each other")
	case !s.Bearer.IsZero():
		ep.Credentials = auth.Bearer(s.Bearer)
	case s.BasicUser != "":
		ep.Credentials = auth.Basic(s.BasicUser, s.BasicPassword, false)
	case s.OAuth2 != nil:
		o := s.OAuth2
		style := auth.AuthStyleHeader
		switch o.AuthStyle {
		case "", "header":
		case "params":
			style = auth.AuthStyleParams
		default:
			return fail("oauth2.auth_style", "want header or params, got %q", o.AuthStyle)
		}
		params := url.Values{}
		for k, v := range o.Params {
			params.Set(k, v)
		}
		cc, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{TokenURL: o.TokenURL, AllowHTTP: opts.AllowHTTP,
			ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes, EndpointParams: params,
			AuthStyle: style, HTTPClient: opts.HTTPClient})
		if err != nil {
			return fail("oauth2", "%v", err)
		}
		ep.Credentials = cc
	}
	return Subscription{Endpoint: ep, Filter: filter, Ordered: s.Ordered, MaxInFlight: s.MaxInFlight}, nil
}

// specJSON is the stored form of an EndpointSpec, secrets revealed (inside the sealed
// box, or in clear only with SpecCodec.AllowPlaintext).
type specJSON struct {
	ID            string      `json:"id"`
	URL           string      `json:"url"`
	Scheme        string      `json:"scheme,omitempty"`
	Secrets       []string    `json:"secrets,omitempty"`
	Filter        []string    `json:"filter,omitempty"`
	Ordered       bool        `json:"ordered,omitempty"`
	MaxInFlight   int         `json:"max_in_flight,omitempty"`
	Timeout       int64       `json:"timeout_ns,omitempty"`
	Bearer        string      `json:"bearer,omitempty"`
	BasicUser     string      `json:"basic_user,omitempty"`
	BasicPassword string      `json:"basic_password,omitempty"`
	OAuth2        *oauth2JSON `json:"oauth2,omitempty"`
}

type oauth2JSON struct {
	TokenURL     string            `json:"token_url"`
	ClientID     string            `json:"client_id"`
	ClientSecret string            `json:"client_secret"`
	Scopes       []string          `json:"scopes,omitempty"`
	Params       map[string]string `json:"params,omitempty"`
	AuthStyle    string            `json:"auth_style,omitempty"`
}

func (s *EndpointSpec) toJSON() specJSON {
	j := specJSON{ID: s.ID, URL: s.URL, Scheme: s.Scheme, Filter: s.Filter, Ordered: s.Ordered,
		MaxInFlight: s.MaxInFlight, Timeout: int64(s.Timeout), Bearer: s.Bearer.Reveal(),
		BasicUser: s.BasicUser, BasicPassword: s.BasicPassword.Reveal()}
	for _, sec := range s.Secrets {
		j.Secrets = append(j.Secrets, sec.Reveal())
	}
	if o := s.OAuth2; o != nil {
		j.OAuth2 = &oauth2JSON{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret.Reveal(),
			Scopes: o.Scopes, Params: o.Params, AuthStyle: o.AuthStyle}
	}
	return j
}

func (j *specJSON) spec() EndpointSpec {
	s := EndpointSpec{ID: j.ID, URL: j.URL, Scheme: j.Scheme, Filter: j.Filter, Ordered: j.Ordered,
		MaxInFlight: j.MaxInFlight, Timeout: time.Duration(j.Timeout), BasicUser: j.BasicUser}
	if j.Bearer != "" {
		s.Bearer = auth.NewPassword(j.Bearer)
	}
	if j.BasicPassword != "" {
		s.BasicPassword = auth.NewPassword(j.BasicPassword)
	}
	for _, sec := range j.Secrets {
		s.Secrets = append(s.Secrets, auth.NewPassword(sec))
	}
	if o := j.OAuth2; o != nil {
		s.OAuth2 = &OAuth2Spec{TokenURL: o.TokenURL, ClientID: o.ClientID, Scopes: o.Scopes, Params: o.Params, AuthStyle: o.AuthStyle}
		if o.ClientSecret != "" {
			s.OAuth2.ClientSecret = auth.NewPassword(o.ClientSecret)
		}
	}
	return s
}

// SpecKeySize is the size of a registry key (SpecCodec.Key, Config.RegistryKey): AES-256.
const SpecKeySize = 32

// The first byte of a stored spec.
const (
	specPlain  = 'P' // then the JSON
	specSealed = 'S' // then the key's 4-byte tag, the 12-byte nonce, the AES-GCM box
)

// SpecCodec turns endpoint specs into the opaque bytes a registry stores
// (queue.Endpoint.Spec) and back.
//
// With a Key, every spec is sealed with AES-256-GCM: a fresh random nonce per Seal, and
// the endpoint's ID as additional data, so that a sealed spec copied into another
// endpoint's record does not open. The stored bytes hold a 4-byte tag of the key
// (SHA-256 of it), so that Open picks the right one of Key and OldKeys: rotate by
// putting the new key in Key and the old one in OldKeys (Config.RegistryOldKeys), then
// re-seal every stored spec under Key (Reseal; "hookkit endpoint rekey" does it for a
// store's registry), then drop the old key. Nothing of the spec is readable without the
// key (not even the URL).
//
// Without a Key, a spec without secrets (no signing secret, no credentials) is stored in
// clear; one with secrets is refused (ErrSpecSecrets) unless AllowPlaintext says clear
// text is fine (a test, a database encrypted and access-controlled by other means).
type SpecCodec struct {
	// Key is the 32-byte AES-256 key specs are sealed with. nil: no sealing (see above).
	Key []byte
	// OldKeys open specs sealed under earlier keys (never used to seal).
	OldKeys [][]byte
	// AllowPlaintext stores specs with secrets in clear when there is no Key.
	AllowPlaintext bool
}

func keyTag(key []byte) []byte {
	sum := sha256.Sum256(key)
	return sum[:4]
}

func specAAD(id string) []byte { return append([]byte("hookkit/endpoint-spec\x00"), id...) }

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != SpecKeySize {
		return nil, fmt.Errorf("%w: a registry key is %d bytes, not %d", ErrInvalidConfig, SpecKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encodes the spec for a registry: sealed under Key, or in clear (see SpecCodec).
func (c SpecCodec) Seal(s EndpointSpec) ([]byte, error) {
	plain, err := json.Marshal(s.toJSON())
	if err != nil {
		return nil, err
	}
	if c.Key == nil {
		if s.hasSecrets() && !c.AllowPlaintext {
			return nil, ErrSpecSecrets
		}
		return append([]byte{specPlain}, plain...), nil
	}
	aead, err := newGCM(c.Key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1, 1+4+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = specSealed
	out = append(out, keyTag(c.Key)...)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails (crypto/rand.Read's documentation)
	out = append(out, nonce...)
	out = aead.Seal(out, nonce, plain, specAAD(s.ID))
	clear(plain)
	return out, nil
}

// Open decodes the stored spec of endpoint id. A sealed spec needs Key or one of
// OldKeys (ErrSpecKey otherwise); a clear one opens with any codec. Bytes that are no
// spec: ErrInvalidSpec.
func (c SpecCodec) Open(id string, b []byte) (EndpointSpec, error) {
	if len(b) == 0 {
		return EndpointSpec{}, fmt.Errorf("%w: empty", ErrInvalidSpec)
	}
	var plain []byte
	switch b[0] {
	case specPlain:
		plain = b[1:]
	case specSealed:
		if len(b) < 1+4+12 {
			return EndpointSpec{}, fmt.Errorf("%w: truncated", ErrInvalidSpec)
		}
		tag := b[1:5]
		for _, key := range append([][]byte{c.Key}, c.OldKeys...) {
			if key == nil || string(keyTag(key)) != string(tag) {
				continue
			}
			aead, err := newGCM(key)
			if err != nil {
				return EndpointSpec{}, err
			}
			nonce := b[5 : 5+aead.NonceSize()]
			if plain, err = aead.Open(nil, nonce, b[5+aead.NonceSize():], specAAD(id)); err != nil {
				return EndpointSpec{}, ErrSpecKey
			}
			defer clear(plain)
			break
		}
		if plain == nil {
			return EndpointSpec{}, ErrSpecKey
		}
	default:
		return EndpointSpec{}, fmt.Errorf("%w: unknown format", ErrInvalidSpec)
	}
	var j specJSON
	if err := json.Unmarshal(plain, &j); err != nil {
		return EndpointSpec{}, fmt.Errorf("%w: not its JSON", ErrInvalidSpec)
	}
	if j.ID != id {
		return EndpointSpec{}, fmt.Errorf("%w: the spec of %q is stored as %q's", ErrInvalidSpec, j.ID, id)
	}
	return j.spec(), nil
}

// Reseal returns the stored spec b of endpoint id as Seal writes it now: sealed under
// Key (in clear without a Key), whichever of Key and OldKeys it was sealed under, or in
// clear. changed is false, and b comes back as it is, when it already is in that form
// (sealed under Key; without a Key, in clear). Its errors are Open's (ErrSpecKey: none
// of the codec's keys opens it) and Seal's (ErrSpecSecrets); none holds a secret.
func (c SpecCodec) Reseal(id string, b []byte) (out []byte, changed bool, err error) {
	spec, err := c.Open(id, b)
	if err != nil {
		return nil, false, err
	}
	if c.Key == nil && b[0] == specPlain || c.Key != nil && b[0] == specSealed && string(b[1:5]) == string(keyTag(c.Key)) {
		return b, false, nil
	}
	if out, err = c.Seal(spec); err != nil {
		return nil, false, err
	}
	return out, true, nil
}
