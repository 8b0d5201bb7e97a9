package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testSecret = "s3cr3t-VALUE-xyz"

func TestPasswordRedacts(t *testing.T) {
	p := NewPassword(testSecret)
	require.Equal(t, testSecret, p.Reveal())
	require.False(t, p.IsZero())
	require.True(t, Password{}.IsZero())

	cfg := ClientCredentialsConfig{TokenURL: "https://x/token", ClientID: "id", ClientSecret: p}
	icfg := IntrospectionConfig{URL: "https://x/i", ClientID: "id", ClientSecret: p}
	values := []any{p, &p, cfg, &cfg, icfg, &icfg, []Password{p}, map[string]Password{"u": p}}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"}
	for _, v := range values {
		for _, verb := range verbs {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, testSecret, "verb %s on %T", verb, v)
		}
		b, err := json.Marshal(v)
		require.NoError(t, err)
		assert.NotContains(t, string(b), testSecret)

		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
		assert.NotContains(t, buf.String(), testSecret)
	}
	assert.Equal(t, "[REDACTED]", p.String())
	assert.Equal(t, "[REDACTED]", fmt.Sprintf("%#v", p))
	b, _ := json.Marshal(p)
	assert.Equal(t, `"[REDACTED]"`, string(b))
	assert.Equal(t, "[REDACTED]", p.LogValue().String())
}

func TestCredentialsValuesRedact(t *testing.T) {
	p := NewPassword(testSecret)
	o, err := NewClientCredentials(ClientCredentialsConfig{TokenURL: "https://x/token", ClientID: "id", ClientSecret: p, AuthStyle: AuthStyleHeader})
	require.NoError(t, err)
	iv, err := NewIntrospectionValidator(IntrospectionConfig{URL: "https://x/i", ClientID: "id", ClientSecret: p})
	require.NoError(t, err)
	for _, v := range []any{Basic("u", p, false), Bearer(p), o, iv, NewBasicValidator(map[string]Password{"u": p})} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			assert.NotContains(t, fmt.Sprintf(verb, v), testSecret)
		}
	}
}

// TestPasswordInUnexportedFieldDoesNotPrint: where fmt cannot call Password's methods (an
// unexported field of a caller's struct), the text still does not print in any verb.
func TestPasswordInUnexportedFieldDoesNotPrint(t *testing.T) {
	p := NewPassword(testSecret)
	type inner struct {
		p  Password
		pp *Password
	}
	type holder struct {
		p   Password
		ps  []Password
		m   map[string]Password
		in  inner
		pin *inner
		any any
	}
	h := holder{p: p, ps: []Password{p}, m: map[string]Password{"u": p}, in: inner{p: p, pp: &p}, pin: &inner{p: p}, any: p}
	forbidden := []string{testSecret, fmt.Sprintf("%x", testSecret), fmt.Sprintf("%X", testSecret), testSecret[:6]}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%c", "%U", "%t", "%e"} {
		for _, v := range []any{h, &h, []holder{h}, inner{p: p}, struct{ p Password }{p}} {
			out := fmt.Sprintf(verb, v)
			for _, f := range forbidden {
				assert.NotContains(t, out, f, "verb %s on %T: %s", verb, v, out)
			}
		}
	}
	assert.Equal(t, testSecret, h.in.pp.Reveal(), "the value is still usable")
}
