package event

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unsafe"
)

// binaryVersion is the first byte of the binary form of an Encoded.
const binaryVersion = 1

// retryCountKey precedes the retryCount digits in every body Encode writes.
const retryCountKey = `"retryCount":`

// AppendBinary appends the binary form of c to dst (see MarshalBinary) and returns the
// extended slice. It implements encoding.BinaryAppender.
func (c *Encoded) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, binaryVersion)
	dst = binary.AppendUvarint(dst, uint64(len(c.id)))
	dst = append(dst, c.id...)
	dst = binary.AppendUvarint(dst, uint64(len(c.typ)))
	dst = append(dst, c.typ...)
	dst = binary.AppendUvarint(dst, uint64(c.digit))
	return append(dst, c.first...), nil
}

// MarshalBinary returns the lossless binary form of c: what a durable store persists
// for an event. It holds the id, the type, the position of the retryCount digits and the
// body of the first attempt, byte for byte, so that UnmarshalBinary gives back an Encoded
// whose every Body is identical to c's, without parsing the JSON again. The form is
// versioned by its first byte; later versions of this package read every earlier form.
func (c *Encoded) MarshalBinary() ([]byte, error) {
	return c.AppendBinary(make([]byte, 0, 3*binary.MaxVarintLen16+len(c.id)+len(c.typ)+len(c.first)))
}

// UnmarshalBinary sets c to the Encoded whose binary form (MarshalBinary) is b; b is
// copied. It checks the form's structure — version, lengths, the id and type, the
// retryCount position and the body's first and last bytes — in time linear in the id and
// type and constant in the body, and does not parse the JSON again: the body is trusted
// to be what Encode wrote. Anything else is an error wrapping ErrMalformed. Use it on a
// new Encoded only: an Encoded is immutable once shared.
func (c *Encoded) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != binaryVersion {
		return fmt.Errorf("%w: binary form: unknown version", ErrMalformed)
	}
	rest := b[1:]
	field := func(name string) ([]byte, error) {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return nil, fmt.Errorf("%w: binary form: bad %s length", ErrMalformed, name)
		}
		v := rest[w : w+int(n)]
		rest = rest[w+int(n):]
		return v, nil
	}
	id, err := field("id")
	if err != nil {
		return err
	}
	typ, err := field("type")
	if err != nil {
		return err
	}
	head, w := binary.Uvarint(rest)
	if w <= 0 {
		return fmt.Errorf("%w: binary form: bad retryCount position", ErrMalformed)
	}
	body := rest[w:]
	if head < uint64(len(retryCountKey)) || head >= uint64(len(body)) || body[head] != '0' ||
		!bytes.Equal(body[head-uint64(len(retryCountKey)):head], []byte(retryCountKey)) ||
		!bytes.HasPrefix(body, []byte(`{"id":`)) || body[len(body)-1] != '}' {
		return fmt.Errorf("%w: binary form: body is not an encoded event", ErrMalformed)
	}
	if err := ValidateID(string(id)); err != nil {
		return fmt.Errorf("%w: binary form: %w", ErrMalformed, err)
	}
	if err := ValidateType(string(typ)); err != nil {
		return fmt.Errorf("%w: binary form: %w", ErrMalformed, err)
	}
	first := bytes.Clone(body)
	// The id and type share the body's memory when it holds them verbatim (see inBody).
	idAt := len(`{"id":"`)
	c.id = sharedOrCopy(first, idAt, id)
	if len(first) > idAt && unsafe.StringData(c.id) == &first[idAt] {
		c.typ = sharedOrCopy(first, idAt+len(id)+len(`","event":"`), typ)
	} else {
		c.typ = string(typ)
	}
	c.first, c.digit = first[:len(first):len(first)], int(head)
	return nil
}

// sharedOrCopy is inBody for a []byte: a string sharing body's memory when body holds s
// verbatim at at (followed by its closing quote), else a copy of s.
func sharedOrCopy(body []byte, at int, s []byte) string {
	end := at + len(s)
	if len(s) == 0 || end >= len(body) || body[end] != '"' || !bytes.Equal(body[at:end], s) {
		return string(s)
	}
	return unsafe.String(&body[at], len(s))
}
