package sender

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseDestination: the checks made on an endpoint URL, by every Send and once by
// Subscribe.
func TestParseDestination(t *testing.T) {
	for _, tc := range []struct {
		url       string
		allowHTTP bool
		class     Class
		want      error
		host      string
	}{
		{url: "https://hooks.example.com/x", host: "hooks.example.com"},
		{url: "https://hooks.example.com:/x", host: "hooks.example.com"},
		{url: "http://10.0.0.1:8080/x", allowHTTP: true, host: "10.0.0.1:8080"},
		{url: "http://hooks.example.com/x", class: ClassRefused, want: ErrPlainHTTP},
		{url: "ftp://hooks.example.com/x", class: ClassPermanent, want: ErrInvalidEndpoint},
		{url: "https:///x", class: ClassPermanent, want: ErrInvalidEndpoint},
		{url: "https://user:pass@hooks.example.com/x", class: ClassPermanent, want: ErrInvalidEndpoint},
		{url: "https://hooks.example.com/%zz", class: ClassPermanent, want: ErrInvalidEndpoint},
	} {
		d := parseDestination(tc.url, tc.allowHTTP)
		if tc.want == nil {
			require.NoError(t, d.err, tc.url)
			assert.Equal(t, tc.host, d.host, tc.url)
			continue
		}
		assert.True(t, errors.Is(d.err, tc.want), "%s: %v", tc.url, d.err)
		assert.Equal(t, tc.class, d.class, tc.url)
		assert.NotContains(t, d.err.Error(), "pass", "no credentials in the error")
		if tc.want == ErrPlainHTTP {
			assert.Contains(t, d.err.Error(), "set Config.AllowHTTP", "the error names the setting that lifts it")
		}
	}
}
