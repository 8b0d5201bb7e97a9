package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// BasicValidator checks HTTP Basic credentials against a fixed set of users.
// It keeps only SHA-256 digests of user names and passwords and compares the
// presented pair in constant time against every user without exiting early,
// so the timing does not reveal whether a user exists. Its errors wrap
// *[BasicAuthError], so [Challenge] answers with a Basic challenge. It is
// safe for concurrent use.
type BasicValidator struct {
	users atomic.Pointer[[]basicUser]
}

type basicUser struct {
	user, pass [32]byte
	name       string
}

// NewBasicValidator returns a validator for the given user → password map.
// The principal's Subject is the user name and Method is "basic".
func NewBasicValidator(users map[string]Password) *BasicValidator {
	v := &BasicValidator{}
	v.Replace(users)
	return v
}

// Replace atomically swaps the set of users.
func (v *BasicValidator) Replace(users map[string]Password) {
	list := make([]basicUser, 0, len(users))
	for name, pw := range users {
		list = append(list, basicUser{
			user: sha256.Sum256([]byte(name)),
			pass: sha256.Sum256([]byte(pw.Reveal())),
			name: name,
		})
	}
	v.users.Store(&list)
}

func basicErr(err error) error { return &BasicAuthError{Err: err} }

// Validate implements [Validator].
func (v *BasicValidator) Validate(_ context.Context, r *http.Request) (*Principal, error) {
	if r == nil {
		return nil, basicErr(ErrNoCredentials)
	}
	user, pass, err := parseBasic(r.Header.Values("Authorization"))
	if err != nil {
		return nil, basicErr(err)
	}
	uh, ph := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	var users []basicUser
	if p := v.users.Load(); p != nil {
		users = *p
	}
	found, idx := 0, 0
	for i := range users {
		eq := subtle.ConstantTimeCompare(uh[:], users[i].user[:]) & subtle.ConstantTimeCompare(ph[:], users[i].pass[:])
		idx = subtle.ConstantTimeSelect(eq&^found, i, idx)
		found |= eq
	}
	if found == 0 {
		return nil, basicErr(ErrInvalidCredentials)
	}
	return &Principal{Subject: users[idx].name, Method: "basic"}, nil
}

// parseBasic reads "Authorization: Basic base64(user:pass)" (RFC 7617).
func parseBasic(vals []string) (user, pass string, err error) {
	if len(vals) == 0 {
		return "", "", ErrNoCredentials
	}
	if len(vals) > 1 {
		return "", "", ErrInvalidCredentials
	}
	scheme, rest, ok := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "basic") {
		if scheme != "" && isToken(scheme) {
			return "", "", ErrNoCredentials
		}
		return "", "", ErrInvalidCredentials
	}
	if !ok || len(rest) > maxTokenLen {
		return "", "", ErrInvalidCredentials
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimLeft(rest, " "))
	if derr != nil {
		return "", "", ErrInvalidCredentials
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	if !ok {
		return "", "", ErrInvalidCredentials
	}
	return user, pass, nil
}

// Format prints the validator without user digests.
func (v *BasicValidator) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "auth.BasicValidator{"+redacted+"}")
}

var _ Validator = (*BasicValidator)(nil)
