package transport_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/core/transport"
	"github.com/vigil-ha/vigil/core/vrrp"
	"github.com/vigil-ha/vigil/test/lab"
)

// TestMulticastAndUnicast sends real adverts between two namespaces over
// IPv4 and IPv6, multicast and unicast, and checks what §7.1 needs arrives:
// TTL 255, the sender's address, the destination, the bytes.
func TestMulticastAndUnicast(t *testing.T) {
	l := lab.New(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	for _, v6 := range []bool{false, true} {
		var pool1, pool2 = transport.NewPool(), transport.NewPool()
		var m1, m2 *transport.Mux
		n1.Do(func() {
			var err error
			if m1, err = pool1.Acquire("eth0", v6, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
		})
		n2.Do(func() {
			var err error
			if m2, err = pool2.Acquire("eth0", v6, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
		})
		hdr := wireHeaders(t, n2, v6)
		got := make(chan transport.Packet, 4)
		if err := m2.Register(42, func(p transport.Packet) { got <- p }); err != nil {
			t.Fatal(err)
		}
		if err := m2.Register(42, func(transport.Packet) {}); err == nil {
			t.Error("a second handler for one VRID was accepted")
		}
		group, peer := vrrp.GroupV4, n2.Addr4
		if v6 {
			group, peer = vrrp.GroupV6, m2.Source()
		}
		adv := vrrp.Advert{Version: vrrp.V3, VRID: 42, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.42")}}
		if v6 {
			adv.Addrs = []netip.Addr{netip.MustParseAddr("2001:db8::42")}
		}
		for _, dst := range []netip.Addr{group, peer} {
			msg, err := adv.Marshal(m1.Source(), dst)
			if err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			if err := m1.Send(msg, dst); err != nil {
				t.Fatalf("send to %v: %v", dst, err)
			}
			select {
			case p := <-got:
				if p.At.Before(sent) || p.At.After(time.Now()) {
					t.Errorf("v6=%v to %v: stamped %v, sent at %v", v6, dst, p.At, sent)
				}
				var a vrrp.Advert
				if err := a.Unmarshal(p.Data, p.Src, p.Dst); err != nil {
					t.Fatalf("v6=%v to %v: %v", v6, dst, err)
				}
				if p.TTL != 255 || p.Src != m1.Source() || p.Dst != dst || a.VRID != 42 {
					t.Errorf("v6=%v to %v: got %+v", v6, dst, p)
				}
				if h := <-hdr; h != [2]int{vrrp.TOS, vrrp.TTL} {
					t.Errorf("v6=%v to %v: sent with TOS/traffic class %#x and TTL/hop limit %d, keepalived sends %#x and %d", v6, dst, h[0], h[1], vrrp.TOS, vrrp.TTL)
				}
			case <-time.After(2 * time.Second):
				t.Fatalf("v6=%v: advert to %v never arrived", v6, dst)
			}
		}
		if v6 {
			// An IPv6 unicast advert goes from the node's address, which
			// its peers list (keepalived's unicast_src_ip).
			msg, _ := adv.Marshal(n1.Addr6, n2.Addr6)
			if err := m1.SendFrom(msg, n1.Addr6, n2.Addr6); err != nil {
				t.Fatal(err)
			}
			select {
			case p := <-got:
				if p.Src != n1.Addr6 || p.Dst != n2.Addr6 || p.TTL != 255 {
					t.Errorf("SendFrom: got %+v", p)
				}
				<-hdr
			case <-time.After(2 * time.Second):
				t.Fatal("SendFrom: advert never arrived")
			}
		}
		if v6 && !m1.Source().IsLinkLocalUnicast() {
			t.Errorf("IPv6 adverts sent from %v, RFC 5798 wants the link-local address", m1.Source())
		}
		if !v6 && m1.Source() != n1.Addr4 {
			t.Errorf("IPv4 adverts sent from %v, want the interface address %v", m1.Source(), n1.Addr4)
		}
		// A VRID nobody registered never reaches user space (the socket's
		// filter drops it), while the registered one still arrives.
		adv.VRID = 43
		msg, _ := adv.Marshal(m1.Source(), group)
		m1.Send(msg, group)
		adv.VRID = 42
		msg, _ = adv.Marshal(m1.Source(), group)
		m1.Send(msg, group)
		select {
		case p := <-got:
			if p.Data[1] != 42 {
				t.Errorf("v6=%v: VRID %d delivered", v6, p.Data[1])
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("v6=%v: the registered VRID's advert never arrived", v6)
		}
		<-hdr
		if n := m2.Unclaimed.Load(); n != 0 {
			t.Errorf("v6=%v: %d adverts for an unregistered VRID reached user space", v6, n)
		}
		pool1.Release(m1)
		pool2.Release(m2)
	}
}

// TestArrivalStamp: a packet read long after it arrived is stamped with its
// arrival (the kernel's receive time), not the read: a backup's master-down
// timer must not include the time its reader took to run.
func TestArrivalStamp(t *testing.T) {
	l := lab.New(t, 2)
	for _, v6 := range []bool{false, true} {
		var tx, rx *transport.Conn
		l.Nodes[0].Do(func() {
			var err error
			if tx, err = transport.Listen("eth0", v6, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
		})
		l.Nodes[1].Do(func() {
			var err error
			if rx, err = transport.Listen("eth0", v6, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
		})
		group := vrrp.GroupV4
		if v6 {
			group = vrrp.GroupV6
		}
		adv := vrrp.Advert{Version: vrrp.V3, VRID: 9, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vipFor(v6)}}
		msg, err := adv.Marshal(tx.Source(), group)
		if err != nil {
			t.Fatal(err)
		}
		// The kernel turns receive stamps on through deferred work after the
		// first ask, so a packet arriving right after Listen may carry none
		// (and is stamped at its read). A socket that lives longer is stamped
		// from then on: allow the first tries to fall on that window.
		const late, tries = 200 * time.Millisecond, 3
		var failure string
		for try := 0; try < tries; try++ {
			sent := time.Now()
			if err := tx.Send(msg, group); err != nil {
				t.Fatal(err)
			}
			time.Sleep(late)
			buf := make([]byte, 1500)
			p, err := rx.Read(buf) // the packet is queued: this does not block
			read := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			if !p.At.Before(sent) && p.At.Sub(sent) <= late/2 && read.Sub(p.At) >= late/2 {
				failure = ""
				break
			}
			failure = fmt.Sprintf("v6=%v: sent at %v, read at %v, stamped %v: want the arrival, right after the send", v6, sent, read, p.At)
		}
		if failure != "" {
			t.Error(failure)
		}
		tx.Close()
		rx.Close()
	}
}

// TestSendAllocatesNothing: an advert goes out without a heap allocation,
// IPv4 and IPv6, multicast and unicast (a node may send thousands a second).
func TestSendAllocatesNothing(t *testing.T) {
	l := lab.New(t, 2)
	for _, v6 := range []bool{false, true} {
		var c *transport.Conn
		l.Nodes[0].Do(func() {
			var err error
			if c, err = transport.Listen("eth0", v6, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
		})
		group, peer := vrrp.GroupV4, l.Nodes[1].Addr4
		if v6 {
			group, peer = vrrp.GroupV6, l.Nodes[1].Addr6
		}
		adv := vrrp.Advert{Version: vrrp.V3, VRID: 7, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vipFor(v6)}}
		for _, dst := range []netip.Addr{group, peer} {
			msg, err := adv.Marshal(c.Source(), dst)
			if err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(100, func() {
				if err := c.Send(msg, dst); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("v6=%v to %v: %v allocations per send", v6, dst, n)
			}
		}
		c.Close()
	}
}

// wireHeaders reads VRRP packets arriving at n on a raw socket of its own
// and sends each one's TOS (traffic class) and TTL (hop limit), which the
// transport does not report.
func wireHeaders(t *testing.T, n *lab.Node, v6 bool) <-chan [2]int {
	t.Helper()
	var fd int
	n.Do(func() {
		family := unix.AF_INET
		if v6 {
			family = unix.AF_INET6
		}
		var err error
		if fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, vrrp.IPProto); err != nil {
			t.Fatal(err)
		}
	})
	tv := unix.Timeval{Sec: 2}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if v6 {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS, 1)
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1)
	}
	out := make(chan [2]int, 8)
	go func() {
		defer unix.Close(fd)
		buf, oob := make([]byte, 1500), make([]byte, 128)
		for range 8 {
			n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
			if err != nil {
				close(out)
				return
			}
			if !v6 { // an IPv4 raw socket gets the IP header too
				if n >= 20 {
					out <- [2]int{int(buf[1]), int(buf[8])}
				}
				continue
			}
			cms, _ := unix.ParseSocketControlMessage(oob[:oobn])
			h := [2]int{-1, -1}
			for _, cm := range cms {
				if cm.Header.Level == unix.IPPROTO_IPV6 && len(cm.Data) >= 4 {
					v := int(binary.NativeEndian.Uint32(cm.Data))
					switch cm.Header.Type {
					case unix.IPV6_TCLASS:
						h[0] = v
					case unix.IPV6_HOPLIMIT:
						h[1] = v
					}
				}
			}
			out <- h
		}
	}()
	return out
}

// vipFor is an address a VRRPv3 advert of that family carries (RFC 5798
// 5.2.5: at least one).
func vipFor(v6 bool) netip.Addr {
	if v6 {
		return netip.MustParseAddr("2001:db8::24")
	}
	return netip.MustParseAddr("192.0.2.24")
}
