package main

import (
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadSpecsReadsTheFileOnce: "endpoint import" reads its --endpoints file once, so a
// file that can be read only once (a pipe: --endpoints /dev/stdin) is imported; a second
// read would find it empty.
func TestLoadSpecsReadsTheFileOnce(t *testing.T) {
	if _, err := os.Stat("/dev/fd"); err != nil {
		t.Skip("no /dev/fd here")
	}
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	_, err = w.WriteString(`{"endpoints":[{"id":"a","url":"https://hooks.example.com/a","secrets":["` + testSecret + `"],
		"filter":["order-*"],"ordered":true,"bearer":"tok","timeout":"5s"}]}`)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	specs, err := loadSpecs("/dev/fd/"+strconv.Itoa(int(r.Fd())), endpointsOptions{})
	require.NoError(t, err)
	require.Len(t, specs, 1)
	s := specs[0]
	assert.Equal(t, "a", s.ID)
	assert.Equal(t, "https://hooks.example.com/a", s.URL)
	assert.Equal(t, []string{"order-*"}, s.Filter)
	assert.True(t, s.Ordered)
	assert.Equal(t, "5s", s.Timeout.String())
	assert.Equal(t, "tok", s.Bearer.Reveal())
	require.Len(t, s.Secrets, 1)
	assert.Equal(t, testSecret, s.Secrets[0].Reveal())
}
