package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hookkit/hookkit/auth"
)

// Keys made, used, listed and revoked at run time. List shows when each key was last
// used: who still uses the old key.
func ExampleMemoryAPIKeys() {
	ctx := context.Background()
	keys := auth.NewMemoryAPIKeys()
	oldKey, old, _ := keys.Create(ctx, "dsk_", "acme (2024)")
	newKey, _, _ := keys.Create(ctx, "dsk_", "acme (2025)")
	v, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: keys})
	if err != nil {
		panic(err)
	}
	request := func(key string) error {
		r, _ := http.NewRequest(http.MethodPost, "https://example.com/hook", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		_, err := v.Validate(ctx, r)
		return err
	}
	fmt.Println(request(oldKey), request(newKey))

	list, _ := keys.List(ctx)
	for _, k := range list {
		fmt.Printf("%s %d-char prefix, used: %t\n", k.Name, len(k.Prefix), !k.LastUsed.IsZero())
	}

	_ = keys.Revoke(ctx, old.ID)
	fmt.Println(errors.Is(request(oldKey), auth.ErrInvalidCredentials), request(newKey))
	// Output:
	// <nil> <nil>
	// acme (2024) 8-char prefix, used: true
	// acme (2025) 8-char prefix, used: true
	// true <nil>
}
