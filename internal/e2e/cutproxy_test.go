package e2e

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// cutProxy stands on loopback in front of the Temporal frontend; the harness
// cuts it to make the frontend unreachable: every open connection drops and
// new ones are closed on accept until it is restored. Stalled, it still
// carries calls to the frontend but holds its answers: what the frontend
// did, nobody hears of (a cut after a stall loses them). Hand-built: a few
// lines of net and io, which no test library offers with these switches.
type cutProxy struct {
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	down    bool
	stalled bool
	resume  *sync.Cond // on mu: the stall is over
	conns   map[net.Conn]struct{}
}

func startCutProxy(t *testing.T, upstream string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.resume = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(c net.Conn) {
	if !p.track(c) {
		return
	}
	u, err := net.Dial("tcp", p.upstream)
	if err != nil || !p.track(u) {
		_ = c.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { // calls go through, stalled or not
		_, _ = io.Copy(u, c)
		done <- struct{}{}
	}()
	go func() { // answers wait out a stall
		buf := make([]byte, 32<<10)
		for {
			n, err := u.Read(buf)
			if n > 0 {
				p.waitStall()
				if _, werr := c.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	<-done
	for _, x := range []net.Conn{c, u} {
		_ = x.Close()
		p.mu.Lock()
		delete(p.conns, x)
		p.mu.Unlock()
	}
}

// track registers a connection, or closes it while the proxy is cut.
func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cutProxy) waitStall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.stalled {
		p.resume.Wait()
	}
}

// stall holds the frontend's answers until a cut.
func (p *cutProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// cut drops every connection (with the answers a stall held) and refuses
// new ones until restore.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down, p.stalled = true, false
	p.resume.Broadcast()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
