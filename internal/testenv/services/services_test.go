package services

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// recorder is a tb that records what happened instead of stopping the test.
type recorder struct{ fatal, skip string }

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recorder) Skipf(format string, a ...any)  { r.skip = fmt.Sprintf(format, a...) }

// TestNeedFailsInCIAndSkipsElsewhere: a missing server fails the test when CI=true and
// skips it otherwise; a set variable is returned as it is.
func TestNeedFailsInCIAndSkipsElsewhere(t *testing.T) {
	t.Setenv(PostgresEnv, "")
	t.Setenv("CI", "true")
	var r recorder
	need(&r, "PostgreSQL", PostgresEnv)
	assert.Contains(t, r.fatal, "needs PostgreSQL and HOOKKIT_TEST_POSTGRES is not set")
	assert.Empty(t, r.skip)

	t.Setenv("CI", "")
	r = recorder{}
	need(&r, "PostgreSQL", PostgresEnv)
	assert.Empty(t, r.fatal)
	assert.Contains(t, r.skip, "needs PostgreSQL")

	t.Setenv(PostgresEnv, "postgres://postgres@127.0.0.1:5432/test")
	r = recorder{}
	assert.Equal(t, "postgres://postgres@127.0.0.1:5432/test", need(&r, "PostgreSQL", PostgresEnv))
	assert.Equal(t, recorder{}, r)
}
