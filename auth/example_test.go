package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hookkit/hookkit/auth"
)

func ExampleGenerateAPIKey() {
	key, digest, err := auth.GenerateAPIKey("dsk_")
	if err != nil {
		panic(err)
	}
	// Give key to the client once; store only digest.
	v, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: auth.NewMemoryAPIKeys(digest)})
	if err != nil {
		panic(err)
	}
	r, _ := http.NewRequest(http.MethodPost, "https://example.com/hook", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	p, err := v.Validate(context.Background(), r)
	fmt.Println(strings.HasPrefix(key, "dsk_"), len(key))
	fmt.Println(err == nil, p.Method, len(p.Subject))
	// Output:
	// true 47
	// true bearer 15
}

func ExampleChallenge() {
	for _, err := range []error{
		auth.ErrNoCredentials,
		auth.ErrInvalidCredentials,
		&auth.ScopeError{Required: []string{"hooks:write"}},
		auth.ErrValidatorUnavailable,
	} {
		status, header := auth.Challenge(err)
		fmt.Println(status, header)
	}
	// Output:
	// 401 Bearer realm="hookkit"
	// 401 Bearer realm="hookkit", error="invalid_token"
	// 403 Bearer realm="hookkit", error="insufficient_scope", scope="hooks:write"
	// 503
}

func ExamplePassword() {
	p := auth.NewPassword("hunter2")
	fmt.Println(p)
	fmt.Printf("%#v %q\n", p, p)
	fmt.Println(p.Reveal())
	// Output:
	// [REDACTED]
	// [REDACTED] [REDACTED]
	// hunter2
}

func ExampleBasic() {
	c := auth.Basic("alice", auth.NewPassword("secret"), false)
	r, _ := http.NewRequest(http.MethodPost, "http://example.com/hook", nil)
	err := c.Apply(context.Background(), r)
	fmt.Println(errors.Is(err, auth.ErrInsecureTransport))
	// Output:
	// true
}

func ExampleAnyOf() {
	_, digest, _ := auth.GenerateAPIKey("k_")
	keys, _ := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: auth.NewMemoryAPIKeys(digest)})
	v := auth.AnyOf(
		keys,
		auth.NewBasicValidator(map[string]auth.Password{"alice": auth.NewPassword("pw")}),
	)
	r, _ := http.NewRequest(http.MethodPost, "https://example.com/hook", nil)
	r.SetBasicAuth("alice", "pw")
	p, err := v.Validate(context.Background(), r)
	fmt.Println(p.Subject, p.Method, err)
	// Output:
	// alice basic <nil>
}
