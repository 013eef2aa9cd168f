package lab

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"
)

// ServeName listens on port in the node's namespace (every address, VIPs
// included) and answers each connection with the node's name.
func (n *Node) ServeName(port int) {
	n.lab.t.Helper()
	var ln net.Listener
	n.Do(func() {
		var err error
		if ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port)); err != nil {
			n.lab.t.Fatalf("listen on %s: %v", n.Name, err)
		}
	})
	n.lab.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(n.Name))
			c.Close()
		}
	}()
}

// Probe connects from this node to addr:port and returns the name of the
// node that answered (see ServeName).
func (n *Node) Probe(addr netip.Addr, port int, timeout time.Duration) (string, error) {
	c, err := n.Dial(addr, port, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	return strings.TrimSpace(string(b)), err
}

// Dial opens a TCP connection from the node's namespace to addr:port; the
// deadline for everything on it is timeout from now.
func (n *Node) Dial(addr netip.Addr, port int, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	var err error
	n.Do(func() {
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(addr, uint16(port)).String(), timeout)
	})
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(timeout))
	return c, nil
}
