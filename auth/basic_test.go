package auth

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func basicHeader(u, p string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))
}

func TestBasicValidator(t *testing.T) {
	v := NewBasicValidator(map[string]Password{"alice": NewPassword("pw-a:1"), "bob": NewPassword("pw-b")})
	tests := []struct {
		name    string
		headers []string
		subject string
		wantErr error
	}{
		{"alice", []string{basicHeader("alice", "pw-a:1")}, "alice", nil},
		{"bob lower scheme", []string{"basic " + base64.StdEncoding.EncodeToString([]byte("bob:pw-b"))}, "bob", nil},
		{"bad user", []string{basicHeader("mallory", "pw-a:1")}, "", ErrInvalidCredentials},
		{"bad password", []string{basicHeader("alice", "pw-b")}, "", ErrInvalidCredentials},
		{"swapped", []string{basicHeader("bob", "pw-a:1")}, "", ErrInvalidCredentials},
		{"absent", nil, "", ErrNoCredentials},
		{"bearer", []string{"Bearer abc"}, "", ErrNoCredentials},
		{"bad base64", []string{"Basic !!!"}, "", ErrInvalidCredentials},
		{"no colon", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, "", ErrInvalidCredentials},
		{"scheme only", []string{"Basic"}, "", ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Validate(context.Background(), reqWithAuth(tt.headers...))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				st, h := Challenge(err)
				assert.Equal(t, 401, st)
				assert.Equal(t, `Basic realm="hookkit"`, h)
				assert.NotContains(t, fmt.Sprintf("%+v", err), "pw-")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.subject, p.Subject)
			assert.Equal(t, "basic", p.Method)
		})
	}
	v.Replace(map[string]Password{"carol": NewPassword("c")})
	_, err := v.Validate(context.Background(), reqWithAuth(basicHeader("alice", "pw-a:1")))
	require.ErrorIs(t, err, ErrInvalidCredentials)
	_, err = v.Validate(context.Background(), reqWithAuth(basicHeader("carol", "c")))
	require.NoError(t, err)
}

func BenchmarkBasicValidator_Validate(b *testing.B) {
	users := map[string]Password{}
	for i := range 10 {
		users[fmt.Sprintf("user%d", i)] = NewPassword(fmt.Sprintf("password-%d", i))
	}
	v := NewBasicValidator(users)
	r := reqWithAuth(basicHeader("user5", "password-5"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzBasicHeader(f *testing.F) {
	for _, s := range []string{"", basicHeader("a", "b"), "Basic", "Basic !!", "Bearer x", "basic Og=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		_, _, err := parseBasic([]string{h})
		if err != nil && err != ErrNoCredentials && err != ErrInvalidCredentials {
			t.Fatalf("non-sentinel error %v", err)
		}
	})
}
