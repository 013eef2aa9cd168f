package lab

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
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

// Ping sends one ICMP echo request from the node to addr and waits up to
// timeout for the reply (a raw socket in the node's namespace: the lab
// runs as root, and Debian's ping is not always installed).
func (n *Node) Ping(addr netip.Addr, timeout time.Duration) error {
	network, proto, typ, reply := "ip4:icmp", 1, icmp.Type(ipv4.ICMPTypeEcho), icmp.Type(ipv4.ICMPTypeEchoReply)
	if addr.Is6() {
		network, proto, typ, reply = "ip6:ipv6-icmp", 58, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var conn *icmp.PacketConn
	var err error
	n.Do(func() { conn, err = icmp.ListenPacket(network, "") })
	if err != nil {
		return err
	}
	defer conn.Close()
	id := os.Getpid() & 0xffff
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("vigil-lab")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	if _, err := conn.WriteTo(b, &net.IPAddr{IP: addr.AsSlice()}); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 1500)
	for {
		k, from, err := conn.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("no echo reply from %v: %w", addr, err)
		}
		m, err := icmp.ParseMessage(proto, buf[:k])
		if err != nil || m.Type != reply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && from.String() == addr.String() {
			return nil
		}
	}
}
