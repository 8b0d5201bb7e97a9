package queue_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// forbidden reports the imports a store implementation must not pay for: the HTTP stack,
// the sender (and through it auth and signature) and the OAuth2 library. The conformance
// suite is imported by a store's tests only, so it may use testify, which brings
// net/http; the sender and OAuth2 stay out of it too.
func forbidden(pkg string, testOnly bool) bool {
	return (pkg == "net/http" && !testOnly) ||
		pkg == "github.com/hookkit/hookkit/sender" || strings.HasPrefix(pkg, "github.com/hookkit/hookkit/sender/") ||
		pkg == "golang.org/x/oauth2" || strings.HasPrefix(pkg, "golang.org/x/oauth2/")
}

// TestContractImportsNoTransport lists the non-test dependencies, transitive ones
// included, of the queue contract and of the packages a store implementation uses with
// it (memqueue; queuetest in its tests), and fails on any of net/http, the sender or
// OAuth2 (net/http allowed in queuetest only).
func TestContractImportsNoTransport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is on PATH")
	for _, pkg := range []string{".", "../memqueue", "../queuetest"} {
		out, err := exec.Command(goTool, "list", "-deps", pkg).CombinedOutput()
		require.NoError(t, err, "go list -deps %s: %s", pkg, out)
		deps := strings.Fields(string(out))
		require.Contains(t, deps, "github.com/hookkit/hookkit/event", "%s: the listing is complete", pkg)
		var bad []string
		for _, d := range deps {
			if forbidden(d, pkg == "../queuetest") {
				bad = append(bad, d)
			}
		}
		assert.Empty(t, bad, "%s imports what a store must not pay for", pkg)
	}
}

// TestForbidden pins the predicate the test above relies on.
func TestForbidden(t *testing.T) {
	for _, p := range []string{"net/http", "github.com/hookkit/hookkit/sender", "golang.org/x/oauth2", "golang.org/x/oauth2/clientcredentials"} {
		assert.True(t, forbidden(p, false), p)
	}
	assert.False(t, forbidden("net/http", true), "the test-only suite may use net/http (testify)")
	assert.True(t, forbidden("github.com/hookkit/hookkit/sender", true))
	for _, p := range []string{"net/url", "net/netip", "github.com/hookkit/hookkit/event", "github.com/hookkit/hookkit/senderx", "time"} {
		assert.False(t, forbidden(p, false), p)
	}
}
