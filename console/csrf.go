package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// Cookie names. The session cookie holds a random value per browser; a form's CSRF token
// is the HMAC of that value under the console's key (double submit, signed), so a page of
// another site can neither read the token nor make one.
const (
	sessionCookie = "hookkit_console_session"
	flashCookie   = "hookkit_console_flash"
	csrfField     = "csrf"
	maxFormBytes  = 4 << 10
)

var b64 = base64.RawURLEncoding

// mac returns the HMAC-SHA256 of the parts under the console's key, base64url.
func (c *Console) mac(parts ...string) string {
	m := hmac.New(sha256.New, c.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return b64.EncodeToString(m.Sum(nil))
}

// session returns the browser's session value, setting a new session cookie when it has
// none (or a malformed one).
func (c *Console) session(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(sessionCookie); err == nil && validSession(ck.Value) {
		return ck.Value
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	v := b64.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: c.cookiePath(r), HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.secure(r)})
	// The new cookie counts for this response's forms too.
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
	return v
}

// validSession reports whether v has the shape of a session value (43 base64url bytes).
func validSession(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := b64.DecodeString(v)
	return err == nil
}

func (c *Console) cookiePath(r *http.Request) string { return c.base(r) + "/" }

// secure reports whether the cookies of the response to r are Secure: always with
// Config.SecureCookies, else when r came over TLS.
func (c *Console) secure(r *http.Request) bool { return c.cfg.SecureCookies || r.TLS != nil }

// csrfToken is the token the forms of a page carry for session s.
func (c *Console) csrfToken(s string) string { return c.mac("csrf", s) }

// checkPost refuses, with 403, a POST that another origin sent (Sec-Fetch-Site, Origin:
// http.CrossOriginProtection) or whose form token does not match the session cookie.
func (c *Console) checkPost(w http.ResponseWriter, r *http.Request) bool {
	if err := c.cop.Check(r); err != nil {
		c.forbidden(w, r, "This request came from another site.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.badRequest(w, r, "The form could not be read.")
		return false
	}
	ck, err := r.Cookie(sessionCookie)
	tok := r.PostForm.Get(csrfField)
	if err != nil || !validSession(ck.Value) || tok == "" ||
		!hmac.Equal([]byte(tok), []byte(c.csrfToken(ck.Value))) {
		c.forbidden(w, r, "The form's security token is missing or stale. Reload the page and try again.")
		return false
	}
	return true
}

// flash kinds, the first byte of a flash message.
const (
	flashOK    = 'o'
	flashError = 'e'
)

// setFlash sets the message the next page shows once, signed for the session.
func (c *Console) setFlash(w http.ResponseWriter, r *http.Request, kind byte, msg string) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return
	}
	v := string(kind) + msg
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: b64.EncodeToString([]byte(v)) + "." + c.mac("flash", ck.Value, v),
		Path: c.cookiePath(r), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure(r), MaxAge: 60})
}

// takeFlash returns the flash message of the request (and clears it): its kind and text,
// or 0 when there is none or it is not this console's for this session.
func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request, session string) (byte, string) {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return 0, ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: c.cookiePath(r), HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.secure(r), MaxAge: -1})
	enc, sig, ok := strings.Cut(ck.Value, ".")
	raw, err := b64.DecodeString(enc)
	if !ok || err != nil || len(raw) < 1 || !hmac.Equal([]byte(sig), []byte(c.mac("flash", session, string(raw)))) {
		return 0, ""
	}
	return raw[0], string(raw[1:])
}
