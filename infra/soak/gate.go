package soak

import (
	"io"
	"net"
	"sync"
)

// gate is a loopback TCP proxy in front of the SQS emulator that can hold every
// request: while it is closed, what the Gancho process sends to SQS waits. A publish
// then stops after storing its event and before queueing its deliveries, which is
// where the kill must land to test recovery from a crash in the middle of a publish.
type gate struct {
	ln       net.Listener
	upstream string
	URL      string

	mu     sync.Mutex
	open   bool
	opened *sync.Cond
	conns  map[net.Conn]bool
}

func startGate(upstream string) (*gate, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &gate{ln: ln, upstream: upstream, URL: "http://" + ln.Addr().String(), open: true, conns: map[net.Conn]bool{}}
	g.opened = sync.NewCond(&g.mu)
	go g.serve()
	return g, nil
}

// hold makes requests wait until release.
func (g *gate) hold() {
	g.mu.Lock()
	g.open = false
	g.mu.Unlock()
}

func (g *gate) release() {
	g.mu.Lock()
	g.open = true
	g.opened.Broadcast()
	g.mu.Unlock()
}

func (g *gate) wait() {
	g.mu.Lock()
	for !g.open {
		g.opened.Wait()
	}
	g.mu.Unlock()
}

// drop closes every connection, so that what a killed process sent and the gate held
// never arrives, and opens the gate again.
func (g *gate) drop() {
	g.mu.Lock()
	for c := range g.conns {
		_ = c.Close()
	}
	g.mu.Unlock()
	g.release()
}

func (g *gate) close() {
	_ = g.ln.Close()
	g.drop()
}

func (g *gate) track(c net.Conn, add bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if add {
		g.conns[c] = true
	} else {
		delete(g.conns, c)
	}
}

func (g *gate) serve() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		go g.pipe(c)
	}
}

func (g *gate) pipe(c net.Conn) {
	up, err := net.Dial("tcp", g.upstream)
	if err != nil {
		_ = c.Close()
		return
	}
	g.track(c, true)
	g.track(up, true)
	defer func() {
		_ = c.Close()
		_ = up.Close()
		g.track(c, false)
		g.track(up, false)
	}()
	go func() {
		_, _ = io.Copy(c, up)
		_ = c.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			g.wait()
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
