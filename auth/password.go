package auth

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[REDACTED]"

// Password holds a secret string (a password, client secret or token). Every
// way of printing or serialising it yields "[REDACTED]"; use [Password.Reveal]
// to obtain the plaintext where it must be sent.
//
// That holds also where fmt cannot call Password's methods, in an unexported field
// of a caller's struct: fmt then prints the fields by reflection, and the text sits
// two pointers away, where fmt prints only an address. Debuggers and dumpers that
// follow pointers (go-spew, testify's failure diffs) can still reach it.
type Password struct {
	*passwordBox
}

// passwordBox is the first pointer between a Password and its text: fmt expands one
// pointer of an unexported field for some verbs (%s), so the text sits behind a second.
type passwordBox struct{ *passwordText }

// passwordText holds a Password's text; it is never modified after construction.
type passwordText struct{ s string }

// NewPassword wraps s in a Password.
func NewPassword(s string) Password {
	if s == "" {
		return Password{}
	}
	return Password{&passwordBox{&passwordText{s: s}}}
}

// String returns "[REDACTED]".
func (Password) String() string { return redacted }

// GoString returns "[REDACTED]", so %#v does not reveal the secret.
func (Password) GoString() string { return redacted }

// Format writes "[REDACTED]" for every verb and flag.
func (Password) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON returns the JSON string "[REDACTED]".
func (Password) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[REDACTED]", for text-based encoders.
func (Password) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements [slog.LogValuer]; it logs "[REDACTED]".
func (Password) LogValue() slog.Value { return slog.StringValue(redacted) }

// Reveal returns the plaintext secret, for code that must send it.
func (p Password) Reveal() string {
	if p.passwordBox == nil || p.passwordText == nil {
		return ""
	}
	return p.s
}

// IsZero reports whether the secret is empty.
func (p Password) IsZero() bool { return p.Reveal() == "" }
