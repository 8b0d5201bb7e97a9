package event

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Encoded is an event marshalled once. Every delivery attempt takes its body from it:
// the bytes are the same for every attempt except the digits of retryCount, which
// AppendBody writes in place. An Encoded is immutable and safe for concurrent use.
type Encoded struct {
	id, typ string
	first   []byte // the whole body for retryCount 0, its capacity its length
	digit   int    // the index in first of the retryCount digit "0", after `"retryCount":`
}

// Encode validates e and marshals it to JSON once, with the fields in the order of the
// Event struct, data as given (New compacts it) and no HTML escaping.
func (e *Event) Encode() (*Encoded, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	t := e.GeneratedDateTime.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("%w: generatedDateTime year %d outside [0,9999]", ErrMalformed, y)
	}
	var timeBuf [64]byte // RFC 3339 with nanoseconds, years 0 to 9999: at most 35 bytes
	ts := t.AppendFormat(timeBuf[:0], time.RFC3339Nano)
	var idBuf [20]byte
	cfg := strconv.AppendInt(idBuf[:0], e.ConfigurationID, 10)
	// The exact length unless a string needs escaping (then append grows b): the body is
	// kept as long as its deliveries are, so no spare capacity is allocated for it.
	n := len(`{"id":""`) + len(e.ID) + len(`,"event":""`) + len(e.Type) +
		len(`,"retryCount":0`) + len(`,"configurationId":`) + len(cfg) +
		len(`,"generatedDateTime":""`) + len(ts) + len(`,"data":`) + len(e.Data) + len(`}`)
	if e.APIVersion != "" {
		n += len(`,"apiVersion":""`) + len(e.APIVersion)
	}
	if e.URI != "" {
		n += len(`,"uri":""`) + len(e.URI)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"event":`...)
	typAt := len(b) + 1
	b = appendString(b, e.Type)
	if e.APIVersion != "" {
		b = append(b, `,"apiVersion":`...)
		b = appendString(b, e.APIVersion)
	}
	if e.URI != "" {
		b = append(b, `,"uri":`...)
		b = appendString(b, e.URI)
	}
	b = append(b, `,"retryCount":`...)
	digit := len(b)
	b = append(b, '0')
	b = append(b, `,"configurationId":`...)
	b = append(b, cfg...)
	b = append(b, `,"generatedDateTime":"`...)
	b = append(b, ts...)
	b = append(b, `","data":`...)
	b = append(b, e.Data...)
	b = append(b, '}')
	return &Encoded{id: inBody(b, len(`{"id":"`), e.ID), typ: inBody(b, typAt, e.Type), first: b[:len(b):len(b)], digit: digit}, nil
}

// inBody returns s as a string that shares the body's memory when body holds s verbatim at
// at, followed by its closing quote (a type always is; an id unless it needs escaping), and
// s itself otherwise: an Encoded then keeps no copy of its id and type beside its body. The
// body is never modified (an Encoded is immutable, and View's callers must not write to it),
// so the string stays what it was.
func inBody(body []byte, at int, s string) string {
	end := at + len(s)
	if s == "" || end >= len(body) || body[end] != '"' || string(body[at:end]) != s {
		return s
	}
	return unsafe.String(&body[at], len(s))
}

// appendString appends s as a JSON string, escaped as encoding/json does without HTML
// escaping: quotes, backslashes, control characters, U+2028 and U+2029 are escaped and
// invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ID returns the event id.
func (c *Encoded) ID() string { return c.id }

// Type returns the event type.
func (c *Encoded) Type() string { return c.typ }

// Len returns the body length for the given retry count.
func (c *Encoded) Len(retryCount int) int {
	return len(c.first) - 1 + digits(retryCount)
}

// AppendBody appends to dst the exact JSON body of the attempt whose retryCount is
// retryCount and returns the extended slice.
func (c *Encoded) AppendBody(dst []byte, retryCount int) []byte {
	dst = append(dst, c.first[:c.digit]...)
	dst = strconv.AppendInt(dst, int64(retryCount), 10)
	return append(dst, c.first[c.digit+1:]...)
}

// Body returns a new slice holding the body of the attempt whose retryCount is retryCount.
func (c *Encoded) Body(retryCount int) []byte {
	return c.AppendBody(make([]byte, 0, c.Len(retryCount)), retryCount)
}

// View returns the body of the attempt whose retryCount is retryCount without copying it
// when it can: for retryCount 0 (every first attempt) the slice is the Encoded's own bytes,
// shared by every caller, and must not be modified. Use Body for a slice of your own.
func (c *Encoded) View(retryCount int) []byte {
	if retryCount == 0 {
		return c.first
	}
	return c.Body(retryCount)
}

func digits(n int) int {
	d := 1
	if n < 0 {
		d++
		n = -n
	}
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}
