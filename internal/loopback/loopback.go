// Package loopback picks local ports for the processes the dev stack, the
// cluster harness and the tests start.
package loopback

import (
	"crypto/rand"
	"errors"
	"math/big"
	"net"
	"strconv"
)

// FreePort is a port on host below Linux's ephemeral range (32768–60999), so
// no outgoing connection takes it between this check and the real bind (a
// port from ":0", released, was once reused as a connection's source port
// before the server bound it: "address already in use").
func FreePort(host string) (int, error) {
	if host == "" {
		host = "127.0.0.1"
	}
	for range 200 {
		n, _ := rand.Int(rand.Reader, big.NewInt(12000))
		p := 20000 + int(n.Int64())
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return p, nil
	}
	return 0, errors.New("no free port in 20000-31999 on " + host)
}
