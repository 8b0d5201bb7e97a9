package receiver_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/seentest"
)

func TestMemorySeenStoreConformance(t *testing.T) {
	seentest.Run(t, func(t *testing.T) receiver.SeenStore {
		s, err := receiver.NewMemorySeenStore(receiver.MemorySeenStoreConfig{})
		require.NoError(t, err)
		return s
	})
}
