package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// maxDepth bounds the nesting of data, so a hostile body cannot exhaust memory.
const maxDepth = 10000

// isObjectStart reports whether data starts like an object; Parse validated the rest.
func isObjectStart(data []byte) bool { return len(data) > 0 && data[0] == '{' }

// DeriveID returns the id Parse gives a message that carries none (DocuSign Connect's
// own messages have no id): "sha256:" and the hex SHA-256 of every field that stays the
// same when the message is retried (type, apiVersion, uri, configurationId,
// generatedDateTime, data), so that a receiver still recognises a retry as a duplicate.
func DeriveID(e *Event) string {
	h := sha256.New()
	var num [24]byte
	for _, s := range []string{e.Type, e.APIVersion, e.URI} {
		h.Write(strconv.AppendInt(num[:0], int64(len(s)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	h.Write(strconv.AppendInt(num[:0], e.ConfigurationID, 10))
	h.Write([]byte{'|'})
	h.Write([]byte(e.GeneratedDateTime.UTC().Format(time.RFC3339Nano)))
	h.Write([]byte{'|'})
	h.Write(e.Data)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Parse decodes and validates one received message.
//
// The only field a message must have is "event", the type (a valid type name, see
// ValidateType). Every other field is optional: a message without an id (or with an empty
// or null one), as DocuSign Connect's own messages are, gets DeriveID's, which is stable
// across retries; a message without "data", or with "data": null, gets the empty object
// {}, so Data is always an object (any other non-object data is refused with
// ErrInvalidData); a missing retryCount or configurationId is 0 and a missing
// generatedDateTime the zero time. A field that is present must be well-formed: an id
// must pass ValidateID even though a missing one is derived.
//
// It reads the body once: the top-level fields are decoded directly and data is validated
// as JSON and copied, which makes Parse several times faster than encoding/json on large
// payloads (see BENCHMARKS.md). Parse agrees with encoding/json: keys match field names as
// it matches them (exactly, or under bytes.EqualFold, so "ID" and "apiVerſion" count);
// string fields are decoded as it decodes them (each byte of invalid UTF-8 becomes U+FFFD)
// while data keeps its bytes as json.RawMessage does; unknown fields are validated and
// ignored, so newer senders can add fields; the last of repeated keys wins. Errors wrap
// ErrMalformed (and ErrInvalidType, ErrInvalidID or ErrInvalidData where that is the
// problem) and never quote the body.
func Parse(body []byte) (*Event, error) {
	var e Event
	p := parser{b: body}
	if err := p.event(&e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(e.Data) == 0 || string(e.Data) == "null" {
		e.Data = json.RawMessage("{}")
	}
	if !isObjectStart(e.Data) {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, ErrInvalidData)
	}
	if e.ID == "" {
		e.ID = DeriveID(&e)
	}
	if err := e.validate(false); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	e.GeneratedDateTime = e.GeneratedDateTime.UTC()
	return &e, nil
}

type parser struct {
	b []byte
	i int
}

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg + " at offset " + strconv.Itoa(e.off) }

func (p *parser) fail(msg string) error { return &syntaxError{off: p.i, msg: msg} }

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) expect(c byte) error {
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != c {
		return p.fail("expected " + strconv.QuoteRune(rune(c)))
	}
	p.i++
	return nil
}

func (p *parser) event(e *Event) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return p.end()
	}
	for {
		p.ws()
		kStart := p.i
		raw, err := p.stringSpan()
		if err != nil {
			return err
		}
		key := p.b[kStart+1 : p.i-1]
		if err := p.expect(':'); err != nil {
			return err
		}
		p.ws()
		if err := p.field(e, key, raw); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.fail("unexpected end of input")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return p.end()
		default:
			return p.fail("expected ',' or '}'")
		}
	}
}

func (p *parser) end() error {
	p.ws()
	if p.i != len(p.b) {
		return p.fail("data after the top-level object")
	}
	return nil
}

// Field indexes that fieldOf returns.
const (
	fieldUnknown = iota
	fieldID
	fieldEvent
	fieldAPIVersion
	fieldURI
	fieldRetryCount
	fieldConfigurationID
	fieldGeneratedDateTime
	fieldData
)

// fieldNames are the JSON names of the fields, by index.
var fieldNames = [...]string{
	fieldID:                "id",
	fieldEvent:             "event",
	fieldAPIVersion:        "apiVersion",
	fieldURI:               "uri",
	fieldRetryCount:        "retryCount",
	fieldConfigurationID:   "configurationId",
	fieldGeneratedDateTime: "generatedDateTime",
	fieldData:              "data",
}

// fieldOf returns the field a key (without its quotes; escaped says it has escapes)
// names, matching as encoding/json does: after decoding escapes (invalid UTF-8 becomes
// U+FFFD), the key equals a name under bytes.EqualFold, i.e. Unicode simple case folding,
// so "apiVerſion" (U+017F) is apiVersion. An ASCII key without escapes, the usual case,
// is compared byte by byte.
func fieldOf(key []byte, escaped bool) int {
	if !escaped {
		ascii := true
		for _, c := range key {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
		}
		if ascii {
			for i := fieldID; i < len(fieldNames); i++ {
				if asciiEqualFold(key, fieldNames[i]) {
					return i
				}
			}
			return fieldUnknown
		}
	} else {
		quoted := make([]byte, 0, len(key)+2)
		quoted = append(append(append(quoted, '"'), key...), '"')
		var s string
		if json.Unmarshal(quoted, &s) != nil {
			return fieldUnknown
		}
		key = []byte(s)
	}
	for i := fieldID; i < len(fieldNames); i++ {
		if bytes.EqualFold(key, []byte(fieldNames[i])) {
			return i
		}
	}
	return fieldUnknown
}

// asciiEqualFold reports whether the ASCII key equals name, ignoring ASCII case.
func asciiEqualFold(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c, n := key[i], name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= n && n <= 'Z' {
			n += 'a' - 'A'
		}
		if c != n {
			return false
		}
	}
	return true
}

func (p *parser) field(e *Event, key []byte, escaped bool) error {
	switch fieldOf(key, escaped) {
	case fieldID:
		return p.stringField(&e.ID)
	case fieldEvent:
		return p.stringField(&e.Type)
	case fieldAPIVersion:
		return p.stringField(&e.APIVersion)
	case fieldURI:
		return p.stringField(&e.URI)
	case fieldRetryCount:
		n, null, err := p.integer(strconv.IntSize)
		if !null {
			e.RetryCount = int(n)
		}
		return err
	case fieldConfigurationID:
		n, null, err := p.integer(64)
		if !null {
			e.ConfigurationID = n
		}
		return err
	case fieldGeneratedDateTime:
		start := p.i
		if p.literal("null") {
			return nil
		}
		if _, err := p.stringSpan(); err != nil {
			return err
		}
		if err := e.GeneratedDateTime.UnmarshalJSON(p.b[start:p.i]); err != nil {
			return &syntaxError{off: start, msg: "generatedDateTime is not an RFC 3339 time"}
		}
		return nil
	case fieldData:
		// Kept byte for byte, invalid UTF-8 included, as json.RawMessage keeps it.
		start := p.i
		if err := p.value(0); err != nil {
			return err
		}
		e.Data = append(json.RawMessage(nil), p.b[start:p.i]...)
		return nil
	}
	return p.value(0)
}

// stringField reads a JSON string (or null, which leaves dst unchanged) into dst.
func (p *parser) stringField(dst *string) error {
	if p.literal("null") {
		return nil
	}
	start := p.i
	escaped, err := p.stringSpan()
	if err != nil {
		return err
	}
	// Without escapes and with valid UTF-8 (the usual case) the bytes are the string;
	// otherwise encoding/json decodes it, replacing each invalid byte with U+FFFD.
	if raw := p.b[start+1 : p.i-1]; !escaped && utf8.Valid(raw) {
		*dst = string(raw)
		return nil
	}
	if err := json.Unmarshal(p.b[start:p.i], dst); err != nil {
		return &syntaxError{off: start, msg: "invalid string"}
	}
	return nil
}

// integer reads a JSON number that must be an integer fitting bits, or null.
func (p *parser) integer(bits int) (n int64, null bool, err error) {
	if p.literal("null") {
		return 0, true, nil
	}
	start := p.i
	if err := p.number(); err != nil {
		return 0, false, err
	}
	n, perr := strconv.ParseInt(string(p.b[start:p.i]), 10, bits)
	if perr != nil {
		return 0, false, &syntaxError{off: start, msg: "expected an integer"}
	}
	return n, false, nil
}

func (p *parser) literal(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// strPlain marks the bytes that may appear in a JSON string without escaping.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// stringSpan skips a JSON string starting at p.i (which must be '"'), validating its
// escapes, and reports whether it contained any.
func (p *parser) stringSpan() (escaped bool, err error) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return false, p.fail("expected a string")
	}
	p.i++
	b := p.b
	for i := p.i; i < len(b); {
		c := b[i]
		if strPlain[c] {
			i++
			continue
		}
		switch c {
		case '"':
			p.i = i + 1
			return escaped, nil
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				p.i = i
				return escaped, p.fail("unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					p.i = i
					return escaped, p.fail("invalid \\u escape")
				}
				i += 6
			default:
				p.i = i
				return escaped, p.fail("invalid escape")
			}
		default:
			p.i = i
			return escaped, p.fail("control character in string")
		}
	}
	p.i = len(b)
	return escaped, p.fail("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number skips a JSON number, validating its grammar.
func (p *parser) number() error {
	b, i := p.b, p.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		p.i = i
		return p.fail("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			p.i = i
			return p.fail("invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			p.i = i
			return p.fail("invalid number")
		}
	}
	p.i = i
	return nil
}

// value skips any JSON value, validating it.
func (p *parser) value(depth int) error {
	if depth > maxDepth {
		return p.fail("nested too deeply")
	}
	p.ws()
	if p.i >= len(p.b) {
		return p.fail("unexpected end of input")
	}
	switch c := p.b[p.i]; {
	case c == '"':
		_, err := p.stringSpan()
		return err
	case c == '{':
		p.i++
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return nil
		}
		for {
			p.ws()
			if _, err := p.stringSpan(); err != nil {
				return err
			}
			if err := p.expect(':'); err != nil {
				return err
			}
			if err := p.value(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.i >= len(p.b) {
				return p.fail("unexpected end of input")
			}
			if p.b[p.i] == '}' {
				p.i++
				return nil
			}
			if p.b[p.i] != ',' {
				return p.fail("expected ',' or '}'")
			}
			p.i++
		}
	case c == '[':
		p.i++
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return nil
		}
		for {
			if err := p.value(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.i >= len(p.b) {
				return p.fail("unexpected end of input")
			}
			if p.b[p.i] == ']' {
				p.i++
				return nil
			}
			if p.b[p.i] != ',' {
				return p.fail("expected ',' or ']'")
			}
			p.i++
		}
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	case p.literal("true"), p.literal("false"), p.literal("null"):
		return nil
	}
	return p.fail("invalid value")
}
