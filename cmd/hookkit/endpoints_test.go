package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestEndpointsFileEveryField: every field of the documented format is read into the
// subscription it configures.
func TestEndpointsFileEveryField(t *testing.T) {
	subs, err := parseEndpoints([]byte(`{"endpoints":[
	 {"id":"orders","url":"https://hooks.example.com/orders","secrets":["`+testSecret+`","`+testSecret+`"],
	  "filter":["order-*","invoice-paid"],"ordered":true,"bearer":"tok-123","timeout":"5s"},
	 {"id":"gh","url":"https://hooks.example.com/gh","scheme":"github","secrets":["s3cret-s3cret-s3cret"],"basic":"user:pa:ss"},
	 {"id":"oa","url":"https://hooks.example.com/oa","scheme":"docusign","secrets":["docusign-key-0123456789"],
	  "oauth2":{"token_url":"https://auth.example.com/token","client_id":"cid","client_secret":"cs",
	  "scopes":["hooks:write"],"params":{"audience":"x"},"auth_style":"params"}}]}`), endpointsOptions{})
	require.NoError(t, err)
	require.Len(t, subs, 3)
	o := subs[0]
	assert.Equal(t, "orders", o.Endpoint.ID)
	assert.Equal(t, "https://hooks.example.com/orders", o.Endpoint.URL)
	assert.Equal(t, "standard", o.Endpoint.Scheme.Name())
	assert.Equal(t, 2, o.Endpoint.Keys.Len())
	assert.True(t, o.Filter.Match("order-created"))
	assert.True(t, o.Filter.Match("invoice-paid"))
	assert.False(t, o.Filter.Match("invoice-sent"))
	assert.True(t, o.Ordered)
	assert.NotNil(t, o.Endpoint.Credentials)
	assert.Equal(t, "5s", o.Endpoint.Timeout.String())
	assert.Equal(t, "github", subs[1].Endpoint.Scheme.Name())
	assert.NotNil(t, subs[1].Endpoint.Credentials)
	assert.True(t, subs[1].Filter.Match("anything"), "no filter: every type")
	assert.False(t, subs[1].Ordered)
	assert.Equal(t, "docusign", subs[2].Endpoint.Scheme.Name())
	assert.NotNil(t, subs[2].Endpoint.Credentials)
}

// TestEndpointsFileErrorsNameTheEndpointAndField: each mistake is a usage error that says
// which endpoint (position and id) and which field, and never shows a secret.
func TestEndpointsFileErrorsNameTheEndpointAndField(t *testing.T) {
	ok := `"url":"https://h.example.com/x","secrets":["` + testSecret + `"]`
	for _, tc := range []struct{ name, file, want string }{
		{"not json", `{"endpoints":[`, "--endpoints: "},
		{"syntax error line", "{\"endpoints\":\n [ {\"id\": } ]}", "line 2, column"},
		{"unknown top-level field", `{"endpoint":[]}`, `unknown field "endpoint"`},
		{"no endpoints", `{"endpoints":[]}`, "no endpoints"},
		{"unknown field", `{"endpoints":[{"id":"a",` + ok + `,"secret":"x"}]}`, `endpoint #1: unknown field "secret"`},
		{"wrong type", `{"endpoints":[{"id":"a",` + ok + `,"ordered":"yes"}]}`, `endpoint #1: ordered: want a JSON boolean`},
		{"missing id", `{"endpoints":[{` + ok + `}]}`, "endpoint #1: id: required"},
		{"missing url", `{"endpoints":[{"id":"a","secrets":["` + testSecret + `"]}]}`, `endpoint #1 ("a"): url: required`},
		{"plain http", `{"endpoints":[{"id":"a","url":"http://h.example.com/x/tok","secrets":["` + testSecret + `"]}]}`, `endpoint #1 ("a"): url: http://h.example.com/… is plain http://: refused; use --allow-http`},
		{"credentials in url", `{"endpoints":[{"id":"a","url":"https://u:hunter2@h.example.com/","secrets":["` + testSecret + `"]}]}`, `("a"): url: must not carry credentials`},
		{"unknown scheme", `{"endpoints":[{"id":"a",` + ok + `,"scheme":"svix2"}]}`, `("a"): scheme: unknown "svix2"`},
		{"no secrets", `{"endpoints":[{"id":"a","url":"https://h.example.com/x"}]}`, `("a"): secrets: at least one`},
		{"bad secret", `{"endpoints":[{"id":"a","url":"https://h.example.com/x","secrets":["` + testSecret + `","whsec_not base64!"]}]}`, `("a"): secrets[1]: not a valid standard secret`},
		{"bad filter", `{"endpoints":[{"id":"a",` + ok + `,"filter":["bad pattern"]}]}`, `("a"): filter: `},
		{"two credentials", `{"endpoints":[{"id":"a",` + ok + `,"bearer":"t","basic":"u:p"}]}`, `("a"): bearer, basic and oauth2 exclude each other`},
		{"basic without colon", `{"endpoints":[{"id":"a",` + ok + `,"basic":"hunter2"}]}`, `("a"): basic: want "user:pass"`},
		{"empty bearer", `{"endpoints":[{"id":"a",` + ok + `,"bearer":""}]}`, `("a"): bearer: empty`},
		{"oauth2 without secret", `{"endpoints":[{"id":"a",` + ok + `,"oauth2":{"token_url":"https://a.example.com/t","client_id":"c"}}]}`, `("a"): oauth2.client_secret: required`},
		{"oauth2 http token url", `{"endpoints":[{"id":"a",` + ok + `,"oauth2":{"token_url":"http://a.example.com/t","client_id":"c","client_secret":"hunter2"}}]}`, `("a"): oauth2.token_url: http://a.example.com/… is plain http://`},
		{"oauth2 auth style", `{"endpoints":[{"id":"a",` + ok + `,"oauth2":{"token_url":"https://a.example.com/t","client_id":"c","client_secret":"hunter2","auth_style":"cookie"}}]}`, `("a"): oauth2.auth_style: want header or params`},
		{"bad timeout", `{"endpoints":[{"id":"a",` + ok + `,"timeout":"soon"}]}`, `("a"): timeout: want a positive duration`},
		{"duplicate id", `{"endpoints":[{"id":"a",` + ok + `},{"id":"a",` + ok + `}]}`, `endpoint #2 ("a"): id: the same as endpoint #1's`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseEndpoints([]byte(tc.file), endpointsOptions{})
			require.Error(t, err)
			var ue *usageError
			require.ErrorAs(t, err, &ue, "a mistake in the file is a usage error (exit 2)")
			assert.Contains(t, err.Error(), tc.want)
			for _, secret := range []string{"hunter2", testSecret, "/x/tok"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}

// TestEndpointsFileBasicOverHTTPRefusedEvenWithAllowHTTP: --allow-http admits plain http
// endpoints, but not a password sent over one.
func TestEndpointsFileBasicOverHTTPRefusedEvenWithAllowHTTP(t *testing.T) {
	file := `{"endpoints":[{"id":"a","url":"http://127.0.0.1:9/x","secrets":["` + testSecret + `"],"basic":"u:hunter2"}]}`
	_, err := parseEndpoints([]byte(file), endpointsOptions{allowHTTP: true, allowPrivate: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `("a"): basic: over plain http://`)
	subs, err := parseEndpoints([]byte(strings.Replace(file, `,"basic":"u:hunter2"`, "", 1)), endpointsOptions{allowHTTP: true})
	require.NoError(t, err)
	assert.Len(t, subs, 1)
}

// TestLoadEndpointsMissingFile: a missing file is a usage error that names the flag.
func TestLoadEndpointsMissingFile(t *testing.T) {
	_, err := loadEndpoints(filepath.Join(t.TempDir(), "nope.json"), endpointsOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--endpoints: no such file")
	big := filepath.Join(t.TempDir(), "big.json")
	require.NoError(t, os.WriteFile(big, make([]byte, maxEndpointsFile+1), 0o600))
	_, err = loadEndpoints(big, endpointsOptions{})
	assert.ErrorContains(t, err, "larger than")
}
