package vip_test

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"github.com/vigil-ha/vigil/core/vip"
	"github.com/vigil-ha/vigil/core/vrrp/capture"
	"github.com/vigil-ha/vigil/test/lab"
)

func TestAddRemove(t *testing.T) {
	l := lab.New(t, 1)
	n := l.Nodes[0]
	v4 := vip.Addr{Prefix: netip.MustParsePrefix("192.0.2.24/24"), Label: "eth0:vip", Interface: "eth0"}
	v6 := vip.Addr{Prefix: netip.MustParsePrefix("2001:db8::24/64"), Interface: "eth0"}
	host := vip.Addr{Prefix: netip.MustParsePrefix("192.0.2.25/32"), Scope: "host", Interface: "eth0"}
	var c *vip.Configurer
	n.Do(func() {
		var err error
		if c, err = vip.NewConfigurer(); err != nil {
			t.Fatal(err)
		}
	})
	defer c.Close()
	func() {
		for _, a := range []vip.Addr{v4, v6, host} {
			if added, err := c.Add(a); err != nil || !added {
				t.Fatalf("add %v: added=%v %v", a, added, err)
			}
			if added, err := c.Add(a); err != nil || added {
				t.Errorf("second add of %v: added=%v %v (want already there)", a, added, err)
			}
			if ok, err := c.Present(a); !ok || err != nil {
				t.Errorf("%v not present after add: %v", a, err)
			}
		}
	}()
	out := n.MustExec("ip", "addr", "show", "dev", "eth0")
	for _, want := range [][]string{{"192.0.2.24/24", "scope global", "eth0:vip"}, {"192.0.2.25/32", "scope host"}, {"2001:db8::24/64", "scope global", "nodad"}} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			all := true
			for _, w := range want {
				all = all && strings.Contains(line, w)
			}
			found = found || all
		}
		if !found {
			t.Errorf("ip addr has no line with %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "tentative") {
		t.Errorf("IPv6 VIP is tentative (DAD), it must be usable at once:\n%s", out)
	}
	func() { // the Configurer works from any thread: its socket is in n's namespace
		for _, a := range []vip.Addr{v4, v6, host} {
			if removed, err := c.Remove(a); err != nil || !removed {
				t.Errorf("remove %v: removed=%v %v", a, removed, err)
			}
			if removed, err := c.Remove(a); err != nil || removed {
				t.Errorf("second remove of %v: removed=%v %v", a, removed, err)
			}
		}
	}()
	// The node's own address was never touched.
	if !n.HasAddr(n.Addr4) || !n.HasAddr(n.Addr6) {
		t.Error("removing VIPs touched the node's own addresses")
	}
}

// TestAnnounceLikeKeepalived captures the burst on another node and checks
// each frame has the shape of keepalived's (testdata of core/vrrp).
func TestAnnounceLikeKeepalived(t *testing.T) {
	l := lab.New(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	addrs := []vip.Addr{
		{Prefix: netip.MustParsePrefix("192.0.2.24/24"), Interface: "eth0"},
		{Prefix: netip.MustParsePrefix("192.0.2.124/24"), Interface: "eth0"},
		{Prefix: netip.MustParsePrefix("2001:db8::133/64"), Interface: "eth0"},
	}
	var sniff *packet.Conn
	n2.Do(func() {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if sniff, err = packet.Listen(ifi, packet.Raw, 0x0003 /* ETH_P_ALL */, nil); err != nil {
			t.Fatal(err)
		}
	})
	defer sniff.Close()
	var mac net.HardwareAddr
	an := vip.NewAnnouncer()
	defer an.Close()
	n1.Do(func() {
		ifi, _ := net.InterfaceByName("eth0")
		mac = ifi.HardwareAddr
		c, err := vip.NewConfigurer()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, a := range addrs {
			if _, err := c.Add(a); err != nil {
				t.Fatal(err)
			}
		}
		if err := an.Burst(addrs, 2, 0, 0); err != nil {
			t.Fatal(err)
		}
	})
	var arps, nas [][]byte
	buf := make([]byte, 1600)
	sniff.SetReadDeadline(time.Now().Add(2 * time.Second))
	for len(arps) < 4 || len(nas) < 2 {
		n, _, err := sniff.ReadFrom(buf)
		if err != nil {
			t.Fatalf("got %d ARP and %d NA frames: %v", len(arps), len(nas), err)
		}
		f := append([]byte(nil), buf[:n]...)
		if !bytes.Equal(f[6:12], mac) {
			continue
		}
		switch {
		case f[12] == 0x08 && f[13] == 0x06:
			arps = append(arps, f)
		case f[12] == 0x86 && f[13] == 0xdd && len(f) > 54 && f[20] == 58 && f[54] == 136:
			nas = append(nas, f)
		}
	}
	ref, err := capture.ReadFile("../vrrp/testdata/keepalived-garp-ipv4.pcap")
	if err != nil {
		t.Fatal(err)
	}
	// keepalived's frame with its MAC replaced by ours must equal ours.
	want := bytes.ReplaceAll(ref[0].Data, ref[0].SrcMAC[:], mac)
	// Ours is padded to the 60-byte Ethernet minimum; keepalived's capture
	// was taken before padding.
	if len(arps[0]) < len(want) || !bytes.Equal(arps[0][:len(want)], want) || bytes.Count(arps[0][len(want):], []byte{0}) != len(arps[0])-len(want) {
		t.Errorf("gratuitous ARP\n got %x\nwant %x", arps[0], want)
	}
	// Round-robin order like keepalived: .24, .124, .24, .124.
	if arps[1][31] != 124 || arps[2][31] != 24 {
		t.Errorf("burst order differs from keepalived's a,b,a,b")
	}
	na6, err := capture.ReadFile("../vrrp/testdata/keepalived-v3-ipv6-na.pcap")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range na6 {
		if f.IP && f.Proto == 58 {
			w := bytes.ReplaceAll(f.Data, f.SrcMAC[:], mac)
			// Same frame but for the flow label (the kernel labels flows of
			// ICMPv6 sockets; keepalived writes whole frames on a packet
			// socket) and the ICMPv6 checksum, which covers the MAC.
			got := append([]byte(nil), nas[0]...)
			got[15], got[16], got[17] = w[15], w[16], w[17]
			copy(got[56:58], w[56:58])
			if !bytes.Equal(got, w) {
				t.Errorf("neighbour advertisement\n got %x\nwant %x", nas[0], w)
			}
			break
		}
	}
}

// TestWatchRemoved: an address deleted by someone else ("ip addr del", as
// NetworkManager would) is reported with its interface and prefix, from
// the namespace of the thread that watches; additions are not.
func TestWatchRemoved(t *testing.T) {
	l := lab.New(t, 1)
	n := l.Nodes[0]
	var c *vip.Configurer
	n.Do(func() {
		var err error
		if c, err = vip.NewConfigurer(); err != nil {
			t.Fatal(err)
		}
	})
	defer c.Close()
	done := make(chan struct{})
	defer close(done)
	type removal struct {
		ifname string
		p      netip.Prefix
	}
	got := make(chan removal, 8)
	n.Do(func() { // the subscription is opened in the calling thread's namespace
		if err := c.WatchRemoved(done, func(ifname string, p netip.Prefix) { got <- removal{ifname, p} }, func(err error) {
			select {
			case <-done: // closing the subscription ends its read with an error
			default:
				t.Error(err)
			}
		}); err != nil {
			t.Error(err)
		}
	})
	a := vip.Addr{Prefix: netip.MustParsePrefix("192.0.2.24/24"), Interface: "eth0"}
	if _, err := c.Add(a); err != nil {
		t.Fatal(err)
	}
	n.MustExec("ip", "addr", "del", "192.0.2.24/24", "dev", "eth0")
	select {
	case r := <-got:
		if r.ifname != "eth0" || r.p != a.Prefix {
			t.Errorf("reported %v on %s, want %v on eth0", r.p, r.ifname, a.Prefix)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the removal was not reported")
	}
}
