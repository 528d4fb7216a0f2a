package loopback

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFreePortIsBelowTheEphemeralRangeAndBindable(t *testing.T) {
	for range 50 {
		p, err := FreePort("127.0.0.1")
		require.NoError(t, err)
		require.GreaterOrEqual(t, p, 20000)
		require.Less(t, p, 32000)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		require.NoError(t, err)
		require.NoError(t, ln.Close())
	}
}
