package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Encoded is an event marshalled once. Every delivery attempt takes its body from it:
// the bytes are the same for every attempt except the digits of retryCount, which
// AppendBody writes in place. An Encoded is immutable and safe for concurrent use.
type Encoded struct {
	id, typ string
	head    []byte // everything up to and including `"retryCount":`
	tail    []byte // everything after the retryCount digits
}

var retryKey = []byte(`"retryCount":`)

// Encode validates e and marshals it to JSON once.
func (e *Event) Encode() (*Encoded, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	c := *e
	c.GeneratedDateTime = c.GeneratedDateTime.UTC()
	c.RetryCount = 0
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, err
	}
	b := bytes.TrimRight(buf.Bytes(), "\n")
	// String values are escaped, so the first unescaped `"retryCount":` is the field
	// itself: id, event, apiVersion and uri come before it and cannot contain it raw.
	i := bytes.Index(b, retryKey)
	if i < 0 || i+len(retryKey) >= len(b) || b[i+len(retryKey)] != '0' {
		return nil, fmt.Errorf("%w: retryCount field not found in encoding", ErrMalformed) // unreachable: the struct always has it
	}
	head := b[:i+len(retryKey)]
	tail := b[i+len(retryKey)+1:]
	out := &Encoded{id: e.ID, typ: e.Type}
	// One allocation for both parts.
	all := make([]byte, 0, len(head)+len(tail))
	all = append(all, head...)
	all = append(all, tail...)
	out.head, out.tail = all[:len(head):len(head)], all[len(head):]
	return out, nil
}

// ID returns the event id.
func (c *Encoded) ID() string { return c.id }

// Type returns the event type.
func (c *Encoded) Type() string { return c.typ }

// Len returns the body length for the given retry count.
func (c *Encoded) Len(retryCount int) int {
	return len(c.head) + digits(retryCount) + len(c.tail)
}

// AppendBody appends to dst the exact JSON body of the attempt whose retryCount is
// retryCount and returns the extended slice.
func (c *Encoded) AppendBody(dst []byte, retryCount int) []byte {
	dst = append(dst, c.head...)
	dst = strconv.AppendInt(dst, int64(retryCount), 10)
	return append(dst, c.tail...)
}

// Body returns a new slice holding the body of the attempt whose retryCount is retryCount.
func (c *Encoded) Body(retryCount int) []byte {
	return c.AppendBody(make([]byte, 0, c.Len(retryCount)), retryCount)
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
