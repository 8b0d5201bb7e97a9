package signature_test

import (
	"net/http"
	"testing"

	"github.com/hookkit/hookkit/signature"
	"github.com/stretchr/testify/require"
)

func httpHeader() http.Header { return http.Header{} }

func hmacKey(t testing.TB, id string) signature.Key {
	t.Helper()
	s, err := signature.NewSecret([]byte("secret-for-" + id + "-0123456789abcdef"))
	require.NoError(t, err)
	return signature.HMACKey(id, s)
}
