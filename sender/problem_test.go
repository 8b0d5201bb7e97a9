package sender_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// TestAttemptSaysWhyAHookkitReceiverRefused: a 401 from a hookkit receiver no longer says
// only "401 Unauthorized": the attempt carries the receiver's problem document — which of
// the signature or the credentials was wrong — and the error's text says it too.
func TestAttemptSaysWhyAHookkitReceiverRefused(t *testing.T) {
	scheme := signature.Standard()
	good, _, err := scheme.GenerateKey("k1")
	require.NoError(t, err)
	wrong, _, err := scheme.GenerateKey("k1")
	require.NoError(t, err)
	rks, err := signature.NewKeySet(good)
	require.NoError(t, err)
	bearer, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: auth.NewMemoryAPIKeys(sha256.Sum256([]byte("tok-right")))})
	require.NoError(t, err)
	mw, err := receiver.New(receiver.Config{Keys: rks, Credentials: bearer})
	require.NoError(t, err)
	srv := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })))
	t.Cleanup(srv.Close)
	s := loopbackSender(t, sender.Config{})

	for _, tc := range []struct {
		name   string
		key    signature.Key
		token  string
		reason receiver.Reason
		title  string
	}{
		{"wrong signature", wrong, "tok-right", receiver.ReasonInvalidSignature, "Invalid signature"},
		{"wrong token", good, "tok-wrong", receiver.ReasonInvalidCredentials, "Invalid credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := signature.NewKeySet(tc.key)
			require.NoError(t, err)
			ep := sender.Endpoint{ID: "r", URL: srv.URL, Keys: ks, Credentials: auth.Bearer(auth.NewPassword(tc.token)), Retry: fastRetry(1)}
			res, err := s.Send(context.Background(), ep, sndEvent(t, "envelope-sent"))
			require.Error(t, err)
			require.Len(t, res.Attempts, 1)
			a := res.Attempts[0]
			assert.Equal(t, http.StatusUnauthorized, a.Status)
			require.NotNil(t, a.Problem, "the receiver's problem document is read")
			assert.Equal(t, receiver.ProblemTypeBase+string(tc.reason), a.Problem.Type)
			assert.Equal(t, tc.title, a.Problem.Title)
			assert.NotEmpty(t, a.Problem.Detail)
			assert.Contains(t, a.Err.Error(), "status 401 Unauthorized: "+tc.title)
			assert.Contains(t, err.Error(), tc.title, "the delivery error says why")
			assert.NotContains(t, err.Error(), "tok-", "never a credential")
		})
	}

	ks, err := signature.NewKeySet(good)
	require.NoError(t, err)
	res, err := s.Send(context.Background(), sender.Endpoint{ID: "r", URL: srv.URL, Keys: ks,
		Credentials: auth.Bearer(auth.NewPassword("tok-right"))}, sndEvent(t, "envelope-sent"))
	require.NoError(t, err)
	assert.Nil(t, res.Attempts[0].Problem, "an acknowledged attempt has none")
}

// TestProblemFromAHostileReceiverIsBoundedAndSanitised: what a receiver writes cannot
// flood a log or a terminal: each field is bounded, control and format characters (ANSI
// escapes, newlines, bidi overrides) and invalid UTF-8 are neutralised, a type that is not
// one word is dropped, and a document too large, not JSON or not labelled
// application/problem+json gives no Problem at all.
func TestProblemFromAHostileReceiverIsBoundedAndSanitised(t *testing.T) {
	var body, contentType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	s := loopbackSender(t, sender.Config{})
	attempt := func() sender.Attempt {
		t.Helper()
		res, err := s.Send(context.Background(), sender.Endpoint{URL: srv.URL, Retry: fastRetry(1)}, sndEvent(t, "envelope-sent"))
		require.Error(t, err)
		require.Len(t, res.Attempts, 1)
		return res.Attempts[0]
	}

	contentType = "application/problem+json; charset=utf-8"
	body = `{"type":"https://x.example/p two words","title":"` + strings.Repeat("A", 5000) +
		`","detail":"line1\nline2 \u001b[31mred\u001b[0m \u202eevil ` + "\xff" + ` end","status":400}`
	a := attempt()
	require.NotNil(t, a.Problem)
	assert.Empty(t, a.Problem.Type, "a type with spaces is not a URI")
	assert.LessOrEqual(t, len(a.Problem.Title), sender.MaxProblemField)
	assert.True(t, strings.HasSuffix(a.Problem.Title, "…"), "cut, and says so")
	assert.Equal(t, "line1 line2 [31mred [0m evil \uFFFD end", a.Problem.Detail)
	for _, f := range []string{a.Problem.Title, a.Problem.Detail, a.Err.Error()} {
		assert.True(t, utf8.ValidString(f))
		for _, r := range f {
			assert.False(t, unicode.IsControl(r) || unicode.Is(unicode.Cf, r), "no control or format character: %q", r)
		}
	}

	body = `{"title":"` + strings.Repeat("x", 9<<10) + `"}`
	assert.Nil(t, attempt().Problem, "a document over 8 KiB is not parsed")
	body = `<html>oops</html>`
	assert.Nil(t, attempt().Problem, "not JSON")
	body, contentType = `{"title":"Looks like a problem"}`, "application/json"
	assert.Nil(t, attempt().Problem, "only application/problem+json is a problem document")
	body, contentType = `{"title":42,"detail":["no"]}`, "application/problem+json"
	assert.Nil(t, attempt().Problem, "members that are not strings are ignored")
	a = attempt()
	assert.Equal(t, "status 400 Bad Request", a.Err.Error())
}
