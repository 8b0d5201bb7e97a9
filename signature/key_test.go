package signature_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/hookkit/hookkit/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Key's JSON form is real JSON whatever its id holds: control characters, quotes,
// backslashes, invalid UTF-8 and U+2028 are encoded as encoding/json encodes any string,
// alone and inside a struct of keys, and the material never appears.
func TestKeyMarshalJSONIsValidJSONForAnyID(t *testing.T) {
	ids := []string{
		"plain",
		"",
		"ctl\x01\x1f\x7f",
		"nl\n tab\t cr\r",
		`quote " and backslash \`,
		`\x01 \u0041 %q`,
		"invalid \xff\xfe utf-8 \xc3",
		"line sep \u2028 para sep \u2029",
		"html <b>&amp;</b>",
		"emoji 🔑 and nul \x00",
	}
	s, err := signature.NewSecret([]byte(material))
	require.NoError(t, err)
	pub, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	for _, id := range ids {
		privKey, err := signature.Ed25519PrivateKey(id, priv)
		require.NoError(t, err)
		pubKey, err := signature.Ed25519PublicKey(id, pub)
		require.NoError(t, err)
		keys := map[string]signature.Key{
			"hmac-sha256":     signature.HMACKey(id, s),
			"ed25519-private": privKey,
			"ed25519-public":  pubKey,
			"none":            {ID: id},
		}
		// The id as encoding/json encodes and decodes any string (invalid UTF-8 becomes U+FFFD).
		idJSON, err := json.Marshal(id)
		require.NoError(t, err)
		var wantID string
		require.NoError(t, json.Unmarshal(idJSON, &wantID))

		for kind, k := range keys {
			direct, err := k.MarshalJSON()
			require.NoError(t, err, "id %q", id)
			assert.True(t, json.Valid(direct), "MarshalJSON of id %q: %s", id, direct)

			js, err := json.Marshal(k)
			require.NoError(t, err, "json.Marshal of a key with id %q", id)
			require.True(t, json.Valid(js), "%s", js)
			var got struct{ ID, Kind string }
			require.NoError(t, json.Unmarshal(js, &got))
			assert.Equal(t, wantID, got.ID, "id %q", id)
			assert.Equal(t, kind, got.Kind)
			assert.Contains(t, string(js), string(idJSON[1:len(idJSON)-1]), "the id is escaped as encoding/json escapes it")

			holder := struct {
				Keys  []signature.Key
				Named map[string]signature.Key
				One   signature.Key
			}{[]signature.Key{k, k}, map[string]signature.Key{"k": k}, k}
			js, err = json.Marshal(holder)
			require.NoError(t, err, "json.Marshal of a struct holding a key with id %q", id)
			require.True(t, json.Valid(js), "%s", js)
			var back struct {
				Keys  []struct{ ID, Kind string }
				Named map[string]struct{ ID, Kind string }
				One   struct{ ID, Kind string }
			}
			require.NoError(t, json.Unmarshal(js, &back))
			require.Len(t, back.Keys, 2)
			assert.Equal(t, wantID, back.Keys[1].ID)
			assert.Equal(t, wantID, back.Named["k"].ID)
			assert.Equal(t, wantID, back.One.ID)
			assert.NotContains(t, string(js), material)
			for _, enc := range []string{base64.StdEncoding.EncodeToString(priv.Seed()), base64.RawURLEncoding.EncodeToString(priv.Seed()), hex.EncodeToString(priv.Seed())} {
				assert.NotContains(t, string(js), enc, "no ed25519 seed in the output")
			}
		}
	}
}
