package pgtest_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
)

var pool pgtest.SharedPool

func TestMain(m *testing.M) { os.Exit(pool.Run(m)) }

// TestSharedPoolIsOpenedOnce: every Get returns the same working pool.
func TestSharedPoolIsOpenedOnce(t *testing.T) {
	p := pool.Get(t)
	assert.Same(t, p, pool.Get(t))
	var one int
	require.NoError(t, p.QueryRow(t.Context(), "SELECT 1").Scan(&one))
	assert.Equal(t, 1, one)
}

// TestClosingAnUnopenedPoolDoesNothing: Close (and so Run) is safe when no test opened it.
func TestClosingAnUnopenedPoolDoesNothing(t *testing.T) {
	var unused pgtest.SharedPool
	assert.NotPanics(t, unused.Close)
}
