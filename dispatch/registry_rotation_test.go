package dispatch_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
)

// TestSpecCodecReseal: a spec sealed under an old key, or stored in clear, is re-sealed
// under Key; afterwards the old key alone no longer opens it, and resealing again changes
// nothing (the same bytes). A spec none of the keys opens is ErrSpecKey, and no error
// names a secret. Without a Key, a sealed spec with secrets is not decrypted into clear
// (ErrSpecSecrets).
func TestSpecCodecReseal(t *testing.T) {
	old, cur := registryKey(t), registryKey(t)
	spec := secretSpec()
	blob, err := dispatch.SpecCodec{Key: old}.Seal(spec)
	require.NoError(t, err)
	rotated := dispatch.SpecCodec{Key: cur, OldKeys: [][]byte{old}}

	out, changed, err := rotated.Reseal("acme", blob)
	require.NoError(t, err)
	assert.True(t, changed)
	_, err = dispatch.SpecCodec{Key: old}.Open("acme", out)
	assert.ErrorIs(t, err, dispatch.ErrSpecKey, "the old key alone no longer opens it")
	got, err := dispatch.SpecCodec{Key: cur}.Open("acme", out)
	require.NoError(t, err, "the current key alone opens it")
	assert.Equal(t, spec.URL, got.URL)
	assert.Equal(t, spec.OAuth2.ClientSecret.Reveal(), got.OAuth2.ClientSecret.Reveal())
	again, changed, err := rotated.Reseal("acme", out)
	require.NoError(t, err)
	assert.False(t, changed, "already under the current key")
	assert.Equal(t, out, again)

	plain, err := dispatch.SpecCodec{AllowPlaintext: true}.Seal(spec)
	require.NoError(t, err)
	out, changed, err = rotated.Reseal("acme", plain)
	require.NoError(t, err)
	assert.True(t, changed, "a spec in clear is sealed")
	assert.False(t, bytes.Contains(out, []byte("oauth-client-secret-xyz")))
	_, err = dispatch.SpecCodec{Key: cur}.Open("acme", out)
	require.NoError(t, err)

	for name, c := range map[string]dispatch.SpecCodec{
		"another key":    {Key: registryKey(t)},
		"no key":         {},
		"new key only":   {Key: cur},
		"unrelated olds": {Key: cur, OldKeys: [][]byte{registryKey(t)}},
		"old is not cur": {Key: registryKey(t), OldKeys: [][]byte{cur}},
	} {
		_, _, err := c.Reseal("acme", blob)
		require.ErrorIs(t, err, dispatch.ErrSpecKey, name)
		for _, secret := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "oauth-client-secret-xyz", "path-secret-url"} {
			assert.NotContains(t, err.Error(), secret, name)
		}
	}
	_, _, err = rotated.Reseal("other", blob)
	assert.ErrorIs(t, err, dispatch.ErrSpecKey, "another endpoint's record")

	_, _, err = dispatch.SpecCodec{OldKeys: [][]byte{old}}.Reseal("acme", blob)
	assert.ErrorIs(t, err, dispatch.ErrSpecSecrets, "no Key: secrets are not written in clear")
	b, changed, err := dispatch.SpecCodec{OldKeys: [][]byte{old}}.Reseal("acme", plain)
	require.NoError(t, err)
	assert.False(t, changed, "no Key, already in clear")
	assert.Equal(t, plain, b)
}

// TestRegistryOldKeys: a dispatcher whose RegistryOldKeys holds the key an endpoint's
// spec was sealed under serves it; one with only the new key cannot open it (its
// deliveries wait, nothing sent); Register on the rotated dispatcher seals under
// RegistryKey alone. An old key of the wrong size is ErrInvalidConfig.
func TestRegistryOldKeys(t *testing.T) {
	_, err := dispatch.New(dspSender(t), nil, dispatch.Config{Registry: memqueue.NewRegistry(), RegistryKey: registryKey(t),
		RegistryOldKeys: [][]byte{registryKey(t), make([]byte, 16)}})
	assert.ErrorIs(t, err, dispatch.ErrInvalidConfig)

	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(status(http.StatusNoContent))
		store, reg := memqueue.New(memqueue.Config{}), memqueue.NewRegistry()
		old, cur := registryKey(t), registryKey(t)
		ctx := context.Background()
		sec := []auth.Password{auth.NewPassword("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}
		before := newDispatcher(t, nw.sender(t), store, dispatch.Config{Registry: reg, RegistryKey: old})
		require.NoError(t, before.Register(ctx, dispatch.EndpointSpec{ID: "ep", URL: srv.URL, Secrets: sec}))

		const poll = 10 * time.Second
		newOnly := newDispatcher(t, nw.sender(t), store, dispatch.Config{Registry: reg, RegistryKey: cur, PollInterval: poll})
		require.NoError(t, newOnly.Start(ctx))
		n, err := newOnly.Publish(ctx, newEvent(t, "order.created"))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "publishing needs no key")
		synctest.Wait()
		assert.Equal(t, 0, srv.Count(), "the spec does not open with the new key alone: nothing sent")
		require.NoError(t, newOnly.Shutdown(ctx))

		rotated := newDispatcher(t, nw.sender(t), store, dispatch.Config{Registry: reg, RegistryKey: cur,
			RegistryOldKeys: [][]byte{old}, PollInterval: poll})
		require.NoError(t, rotated.Start(ctx))
		time.Sleep(poll) // the waiting delivery is due again
		synctest.Wait()
		assert.Equal(t, 1, srv.Count(), "served with the old key")

		require.NoError(t, rotated.Register(ctx, dispatch.EndpointSpec{ID: "ep2", URL: srv.URL, Secrets: sec}))
		recs, err := reg.GetEndpoints(ctx, "ep2")
		require.NoError(t, err)
		require.Len(t, recs, 1)
		_, err = dispatch.SpecCodec{Key: cur}.Open("ep2", recs[0].Spec)
		assert.NoError(t, err, "Register seals with RegistryKey")
		_, err = dispatch.SpecCodec{Key: old}.Open("ep2", recs[0].Spec)
		assert.ErrorIs(t, err, dispatch.ErrSpecKey)
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		require.NoError(t, rotated.Drain(dctx))
	})
}

// Rotating the registry key: the codec with the new key and the old one re-seals a spec
// sealed under the old key; afterwards the new key alone opens it.
func ExampleSpecCodec_Reseal() {
	old, cur := make([]byte, dispatch.SpecKeySize), make([]byte, dispatch.SpecKeySize)
	_, _ = rand.Read(old)
	_, _ = rand.Read(cur)
	spec := dispatch.EndpointSpec{ID: "acme", URL: "https://hooks.acme.example/orders", Bearer: auth.NewPassword("s3cr3t-token")}
	stored, _ := dispatch.SpecCodec{Key: old}.Seal(spec)

	rotated := dispatch.SpecCodec{Key: cur, OldKeys: [][]byte{old}}
	stored, changed, err := rotated.Reseal("acme", stored)
	fmt.Println(changed, err)
	_, changed, _ = rotated.Reseal("acme", stored)
	fmt.Println(changed) // already under the current key
	opened, err := dispatch.SpecCodec{Key: cur}.Open("acme", stored)
	fmt.Println(opened.URL, err)
	_, err = dispatch.SpecCodec{Key: old}.Open("acme", stored)
	fmt.Println(errors.Is(err, dispatch.ErrSpecKey))
	// Output:
	// true <nil>
	// false
	// https://hooks.acme.example/orders <nil>
	// true
}
