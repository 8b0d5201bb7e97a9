package event

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Limits on the textual fields of an event.
const (
	// MaxTypeLen is the longest accepted event type name.
	MaxTypeLen = 128
	// MaxIDLen is the longest accepted event id.
	MaxIDLen = 256
)

// Errors returned by this package. Parse errors wrap ErrMalformed; validation errors wrap
// ErrInvalidType, ErrInvalidID or ErrInvalidData, so callers can use errors.Is.
var (
	// ErrMalformed: Parse was given a body that is not a valid event (every Parse error
	// wraps it), or Encode an event it cannot write.
	ErrMalformed = errors.New("hookkit/event: malformed event")
	// ErrInvalidType: the type is missing or not a valid type name (see ValidateType).
	ErrInvalidType = errors.New("hookkit/event: invalid event type")
	// ErrInvalidID: the id is empty or not a valid id (see ValidateID).
	ErrInvalidID = errors.New("hookkit/event: invalid event id")
	// ErrInvalidData: the data is not a JSON object.
	ErrInvalidData = errors.New("hookkit/event: data is not a json object")
	// ErrInvalidPattern: a type pattern is not valid (see ParsePattern).
	ErrInvalidPattern = errors.New("hookkit/event: invalid type pattern")
)

// Event is one webhook message. Its JSON form uses DocuSign Connect's SIM field names.
//
// ID is unique per event and stays the same across delivery attempts, so receivers use it
// as the idempotency key. Data holds the event's payload as raw JSON (always an object);
// read it with Decode.
type Event struct {
	// ID is the event's unique id: URL-safe, never containing '.', at most MaxIDLen bytes.
	ID string `json:"id"`
	// Type is the event type name, e.g. "envelope-completed".
	Type string `json:"event"`
	// APIVersion is the version of the API that produced Data, e.g. "v2.1".
	APIVersion string `json:"apiVersion,omitempty"`
	// URI is the resource the event is about, e.g. "/restapi/v2.1/accounts/…/envelopes/…".
	URI string `json:"uri,omitempty"`
	// RetryCount is the number of earlier delivery attempts of this event.
	RetryCount int `json:"retryCount"`
	// ConfigurationID is the id of the subscription (Connect configuration) that sent it.
	ConfigurationID int64 `json:"configurationId"`
	// GeneratedDateTime is when the event was generated, in UTC. Parsing accepts any number
	// of fractional digits (DocuSign sends seven, e.g. 2025-05-30T18:03:50.4233752Z).
	GeneratedDateTime time.Time `json:"generatedDateTime"`
	// Data is the payload, a JSON object kept as raw bytes.
	Data json.RawMessage `json:"data"`
}

// New builds an event of type typ whose data is data marshalled to JSON, with a new id
// from NewID and the current time in UTC. data must marshal to a JSON object; nil gives an
// empty object; a json.RawMessage or []byte is taken as JSON, validated and compacted.
// New checks the type and the data.
//
// The other fields are optional and set on the returned event: ev.ID (instead of the
// generated id), ev.APIVersion, ev.URI, ev.ConfigurationID, ev.GeneratedDateTime (any
// time zone; it is encoded in UTC) and ev.RetryCount (senders set it per attempt). Encode
// validates the whole event again, so a field set after New that is invalid (an id with a
// '.', say) is refused there, with ErrInvalidID and the like, before anything is signed or
// sent.
func New(typ string, data any) (*Event, error) {
	if err := ValidateType(typ); err != nil {
		return nil, err
	}
	raw, err := marshalData(data)
	if err != nil {
		return nil, err
	}
	return &Event{ID: NewID(), Type: typ, GeneratedDateTime: time.Now().UTC(), Data: raw}, nil
}

func marshalData(data any) (json.RawMessage, error) {
	switch d := data.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		return compactObject(d)
	case []byte:
		return compactObject(d)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidData, err)
	}
	raw := bytes.TrimRight(buf.Bytes(), "\n") // the encoder's output is valid and compact
	if raw[0] != '{' {
		return nil, ErrInvalidData
	}
	return raw, nil
}

// compactObject validates caller-given JSON and returns it compacted; it must be an object.
func compactObject(raw []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidData, err)
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, ErrInvalidData
	}
	return buf.Bytes(), nil
}

// isObject reports whether raw is a syntactically valid JSON object (surrounding white
// space allowed).
func isObject(raw []byte) bool {
	p := parser{b: raw}
	p.ws()
	return p.i < len(raw) && raw[p.i] == '{' && p.value(0) == nil && p.end() == nil
}

// NewID returns a new random event id: "evt_" followed by 128 bits from crypto/rand in
// unpadded URL-safe base64. It never contains '.'.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	out := make([]byte, 4, 4+22)
	copy(out, "evt_")
	out = base64.RawURLEncoding.AppendEncode(out, b[:])
	return string(out)
}

// ValidateID reports whether id is usable as an event id: 1 to MaxIDLen bytes of
// printable ASCII other than space and '.', since ids travel in HTTP headers and the
// Standard Webhooks scheme signs "id.timestamp.body".
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidID, MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f || c == '.' {
			return fmt.Errorf("%w: byte %d is %q", ErrInvalidID, i, c)
		}
	}
	return nil
}

// ValidateType reports whether typ is a valid event type name: 1 to MaxTypeLen bytes,
// starting with an ASCII letter or digit, followed by letters, digits and "-_.:/".
// "envelope-completed", "recipient-sent" and "invoice.paid" are valid; "*" is not (it is
// a pattern, see ParsePattern).
func ValidateType(typ string) error {
	if typ == "" {
		return fmt.Errorf("%w: empty", ErrInvalidType)
	}
	if len(typ) > MaxTypeLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidType, MaxTypeLen)
	}
	if !isAlnum(typ[0]) {
		return fmt.Errorf("%w %q: must start with a letter or digit", ErrInvalidType, typ)
	}
	for i := 1; i < len(typ); i++ {
		if !isTypeByte(typ[i]) {
			return fmt.Errorf("%w %q: byte %d is %q", ErrInvalidType, typ, i, typ[i])
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isTypeByte(c byte) bool {
	return isAlnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '/'
}

// Validate checks the fields a message must have: a valid id and type, a non-negative
// retry count and data that is a JSON object.
func (e *Event) Validate() error { return e.validate(true) }

// validate is Validate; with checkJSON false it does not re-validate data that Parse
// has already validated, and only checks that it is an object.
func (e *Event) validate(checkJSON bool) error {
	if err := ValidateID(e.ID); err != nil {
		return err
	}
	if err := ValidateType(e.Type); err != nil {
		return err
	}
	if e.RetryCount < 0 {
		return fmt.Errorf("%w: negative retryCount", ErrMalformed)
	}
	if checkJSON && !isObject(e.Data) || !checkJSON && (len(e.Data) == 0 || e.Data[0] != '{') {
		return ErrInvalidData
	}
	return nil
}

// Decode returns the event's data decoded as a T with encoding/json. Errors name the
// event type and wrap encoding/json's (errors.As finds a *json.UnmarshalTypeError).
func Decode[T any](e *Event) (T, error) {
	var v T
	if err := json.Unmarshal(e.Data, &v); err != nil {
		return v, fmt.Errorf("hookkit/event: decode data of %q: %w", e.Type, err)
	}
	return v, nil
}
