package auth

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBasicCredentials(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		allow   bool
		wantErr error
	}{
		{"https", "https://example.com/hook", false, nil},
		{"http refused", "http://example.com/hook", false, ErrInsecureTransport},
		{"http allowed", "http://example.com/hook", true, nil},
		{"HTTPS upper", "HTTPS://example.com/hook", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodPost, tt.url, nil)
			require.NoError(t, err)
			err = Basic("alice", NewPassword("pw:1"), tt.allow).Apply(context.Background(), r)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Empty(t, r.Header.Get("Authorization"))
				return
			}
			require.NoError(t, err)
			u, p, ok := r.BasicAuth()
			require.True(t, ok)
			assert.Equal(t, "alice", u)
			assert.Equal(t, "pw:1", p)
		})
	}
}

func TestBearerCredentials(t *testing.T) {
	r, err := http.NewRequest(http.MethodPost, "https://example.com", nil)
	require.NoError(t, err)
	require.NoError(t, Bearer(NewPassword("tok123")).Apply(context.Background(), r))
	assert.Equal(t, "Bearer tok123", r.Header.Get("Authorization"))
}
