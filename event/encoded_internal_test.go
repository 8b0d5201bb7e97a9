package event

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// within reports whether s's bytes lie inside b.
func within(s string, b []byte) bool {
	p, start := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(&b[0]))
	return p >= start && p+uintptr(len(s)) <= start+uintptr(len(b))
}

// TestEncodedSharesItsIDAndTypeWithTheBody: an Encoded keeps no copy of its id and type
// beside the body (32 bytes per pending delivery of a dropped event), whether made by
// Encode or UnmarshalBinary; an id that needs escaping in JSON is kept as itself.
func TestEncodedSharesItsIDAndTypeWithTheBody(t *testing.T) {
	e, err := New("order-created", map[string]int{"n": 1})
	require.NoError(t, err)
	enc, err := e.Encode()
	require.NoError(t, err)
	assert.True(t, within(enc.ID(), enc.View(0)), "the id is the body's bytes")
	assert.True(t, within(enc.Type(), enc.View(0)), "the type is the body's bytes")
	assert.Equal(t, e.ID, enc.ID())

	b, err := enc.MarshalBinary()
	require.NoError(t, err)
	var got Encoded
	require.NoError(t, got.UnmarshalBinary(b))
	assert.True(t, within(got.ID(), got.View(0)))
	assert.True(t, within(got.Type(), got.View(0)))
	assert.Equal(t, enc.ID(), got.ID())
	assert.Equal(t, enc.Type(), got.Type())

	e.ID = `evt_"quoted"\x`
	enc, err = e.Encode()
	require.NoError(t, err)
	assert.Equal(t, `evt_"quoted"\x`, enc.ID(), "escaped in the body, kept as itself")
	assert.False(t, within(enc.ID(), enc.View(0)))
	assert.True(t, within(enc.Type(), enc.View(0)))
	b, err = enc.MarshalBinary()
	require.NoError(t, err)
	require.NoError(t, got.UnmarshalBinary(b))
	assert.Equal(t, `evt_"quoted"\x`, got.ID())
	assert.Equal(t, "order-created", got.Type())
}
