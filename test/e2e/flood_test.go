package e2e

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/core/vrrp"
	"github.com/vigil-ha/vigil/test/lab"
)

// floodClass is one kind of bad advert an on-link host sends.
type floodClass struct {
	name string
	// packet returns the IPv4 packet to send (header included) for the
	// i-th copy: src, TTL and the VRRP message.
	packet func(i int) (src netip.Addr, ttl byte, msg []byte, dst netip.Addr)
	// counter is the instance counter that must grow by what arrives, ""
	// for packets the socket's filter drops in the kernel, "received" for
	// valid adverts that must change nothing.
	counter  string
	instance string
	split    bool // sent to each node in turn (unicast): each gets half
}

// rawSender sends hand-made IPv4 packets (IP_HDRINCL) from the node.
type rawSender struct{ fd int }

func newRawSender(t *testing.T, n *lab.Node) *rawSender {
	var s rawSender
	var err error
	n.Do(func() {
		if s.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW); err == nil {
			err = unix.BindToDevice(s.fd, "eth0")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return &s
}

func (s *rawSender) send(src netip.Addr, ttl byte, msg []byte, dst netip.Addr) error {
	h := make([]byte, 20, 20+len(msg))
	h[0], h[1], h[8], h[9] = 0x45, vrrp.TOS, ttl, vrrp.IPProto
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(msg)))
	copy(h[12:16], src.AsSlice())
	copy(h[16:20], dst.AsSlice())
	return unix.Sendto(s.fd, append(h, msg...), 0, &unix.SockaddrInet4{Addr: dst.As4()})
}

// rssKB is a process's resident memory.
func rssKB(pid int) int64 {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	return 0
}

// TestFloodOfBadAdverts: an on-link host sends twelve kinds of bad adverts,
// 10,000 a second for a second each, at the master n1 and the backup n2
// while n1 keeps advertising. Nothing changes state; what the kernel
// filter lets through is counted by reason; drop log lines stay within one
// per reason per instance per second; neither agent grows by 1 MiB.
func TestFloodOfBadAdverts(t *testing.T) {
	l := lab.New(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	pol := filepath.Join(l.Dir, "flood.hcl")
	os.WriteFile(pol, []byte(fmt.Sprintf(`
node "n1" {
  interface = "eth0"
  address   = %q
}
node "n2" {
  interface = "eth0"
  address   = %q
}
instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.101/24"]
  priority = { n1 = 100, n2 = 60 }
  auth {
    type     = "pass"
    password = "1322"
  }
}
instance "VI_2" {
  vrid            = 2
  version         = 3
  advert_interval = "100ms"
  vips            = ["192.0.2.102/24"]
  priority        = { n1 = 100, n2 = 60 }
  unicast         = true
}
`, n1.Addr4, n2.Addr4)), 0o644)
	v := []*vigilNode{startVigil(t, l, n1, pol), startVigil(t, l, n2, pol)}
	waitOwner(t, l, netip.MustParseAddr("192.0.2.101"), "n1", 10*time.Second)
	waitOwner(t, l, netip.MustParseAddr("192.0.2.102"), "n1", 10*time.Second)
	time.Sleep(500 * time.Millisecond)

	classes := floodClasses(l.Client.Addr4, []netip.Addr{n1.Addr4, n2.Addr4})
	const rate, per = 10000, time.Second
	sender := newRawSender(t, l.Client)
	counters := func(vn *vigilNode, inst string) map[string]uint64 { return vn.status(t, inst).Counters }
	transitions := func() (n int) {
		for _, vn := range v {
			n += vn.status(t, "VI_1").Transitions + vn.status(t, "VI_2").Transitions
		}
		return n
	}
	before := transitions()
	rss0 := []int64{rssKB(v[0].Cmd.Process.Pid), rssKB(v[1].Cmd.Process.Pid)}
	logs0 := []int{v[0].Count("dropped"), v[1].Count("dropped")}
	for _, c := range classes {
		c0 := []map[string]uint64{counters(v[0], c.instance), counters(v[1], c.instance)}
		sent := 0
		start := time.Now()
		for i := 0; time.Since(start) < per; i++ {
			src, ttl, msg, dst := c.packet(i)
			if err := sender.send(src, ttl, msg, dst); err == nil {
				sent++
			}
			if want := time.Duration(i+1) * time.Second / rate; time.Since(start) < want {
				time.Sleep(want - time.Since(start))
			}
		}
		time.Sleep(200 * time.Millisecond) // the last packets are read
		arrived := sent
		if c.split {
			arrived = sent / 2
		}
		for k, vn := range v {
			c1 := counters(vn, c.instance)
			grew := func(name string) uint64 { return c1[name] - c0[k][name] }
			received := grew("adverts_received")
			switch {
			case c.counter == "":
				if received > uint64(sent)/100 { // the node's own peer adverts still arrive
					t.Errorf("%s: %s: %d of %d reached user space; the kernel filter should drop them", c.name, vn.node.Name, received, sent)
				}
			case c.counter == "received":
				if received < uint64(arrived)*9/10 {
					t.Errorf("%s: %s: %d of %d valid adverts handled", c.name, vn.node.Name, received, arrived)
				}
			default:
				if got := grew(c.counter) + grew("dropped_queue_full"); got < uint64(arrived)*9/10 || grew(c.counter) > uint64(arrived)+1 {
					t.Errorf("%s: %s: %s grew by %d (queue full %d) for %d sent to it", c.name, vn.node.Name, c.counter, grew(c.counter), grew("dropped_queue_full"), arrived)
				}
			}
		}
		t.Logf("%-24s %5d sent at %d/s; n1 %v", c.name, sent, rate, counters(v[0], c.instance))
	}
	if after := transitions(); after != before {
		t.Errorf("%d state changes during the flood", after-before)
	}
	if h := holders(l, netip.MustParseAddr("192.0.2.101")); len(h) != 1 || h[0] != "n1" {
		t.Errorf("VI_1 on %v after the flood", h)
	}
	for k, vn := range v {
		if !vn.Running() {
			t.Fatalf("%s died:\n%.3000s", vn.node.Name, vn.Output())
		}
		if grew := rssKB(vn.Cmd.Process.Pid) - rss0[k]; grew > 1024 {
			t.Errorf("%s grew by %d KiB under the flood", vn.node.Name, grew)
		}
		// At most one line per reason per instance per second.
		if lines := vn.Count("dropped") - logs0[k]; lines > 2*len(classes)+4 {
			t.Errorf("%s wrote %d drop lines in %d s of flood", vn.node.Name, lines, len(classes))
		}
	}
}

// floodClasses are the twelve kinds of bad advert an on-link host at
// attacker sends, against VI_1 (v2, PASS 1322, VRID 1, VIP 192.0.2.101)
// and VI_2 (v3 unicast between peers, VRID 2, VIP 192.0.2.102).
func floodClasses(attacker netip.Addr, peers []netip.Addr) []floodClass {
	group := vrrp.GroupV4
	v2 := func(prio uint8, pass string, mutate func([]byte) []byte) func(int) (netip.Addr, byte, []byte, netip.Addr) {
		return func(int) (netip.Addr, byte, []byte, netip.Addr) {
			a := vrrp.Advert{Version: vrrp.V2, VRID: 1, Priority: prio, Interval: time.Second, AuthType: vrrp.AuthPass,
				Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.101")}}
			a.SetPassword(pass)
			msg, _ := a.Marshal(attacker, group)
			if mutate != nil {
				msg = mutate(msg)
			}
			return attacker, vrrp.TTL, msg, group
		}
	}
	ttl64 := func(i int) (netip.Addr, byte, []byte, netip.Addr) {
		src, _, msg, dst := v2(200, "1322", nil)(i)
		return src, 64, msg, dst
	}
	random := func(i int) (netip.Addr, byte, []byte, netip.Addr) {
		src := netip.AddrFrom4([4]byte{192, 0, 2, byte(150 + i%100)}) // on-link, none of them a node
		a := vrrp.Advert{Version: vrrp.V2, VRID: 1, Priority: 50, Interval: time.Second, AuthType: vrrp.AuthPass,
			Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.101")}}
		a.SetPassword("1322")
		msg, _ := a.Marshal(src, group)
		return src, vrrp.TTL, msg, group
	}
	nonPeer := func(i int) (netip.Addr, byte, []byte, netip.Addr) {
		a := vrrp.Advert{Version: vrrp.V3, VRID: 2, Priority: 250, Interval: 100 * time.Millisecond,
			Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.102")}}
		dst := peers[i%len(peers)]
		msg, _ := a.Marshal(attacker, dst)
		return attacker, vrrp.TTL, msg, dst
	}
	return []floodClass{
		{"bad checksum", v2(200, "1322", func(b []byte) []byte { b[7] ^= 0xff; return b }), "dropped_checksum", "VI_1", false},
		{"TTL 64", ttl64, "", "VI_1", false},
		{"wrong password", v2(200, "guess", nil), "dropped_auth", "VI_1", false},
		{"missing auth", v2(200, "1322", func(b []byte) []byte {
			b[4] = 0 // auth type none; the checksum is fixed below
			return fixV2Checksum(b)
		}), "dropped_auth_type", "VI_1", false},
		{"version 4", v2(200, "1322", func(b []byte) []byte { b[0] = 0x41; return b }), "", "VI_1", false},
		{"type 2", v2(200, "1322", func(b []byte) []byte { b[0] = 0x22; return b }), "", "VI_1", false},
		{"short", v2(200, "1322", func(b []byte) []byte { return b[:6] }), "dropped_short", "VI_1", false},
		{"address count mismatch", v2(200, "1322", func(b []byte) []byte { b[3] = 3; return fixV2Checksum(b) }), "dropped_short", "VI_1", false},
		{"unknown VRID", v2(200, "1322", func(b []byte) []byte { b[1] = 99; return fixV2Checksum(b) }), "", "VI_1", false},
		{"spoofed lower priority", v2(50, "1322", nil), "received", "VI_1", false},
		{"random sources", random, "received", "VI_1", false},
		{"unicast from a non-peer", nonPeer, "dropped_source", "VI_2", true},
	}
}

// fixV2Checksum recomputes a VRRPv2 message's checksum (RFC 3768: over the
// message alone) after a test changed a byte.
func fixV2Checksum(b []byte) []byte {
	b[6], b[7] = 0, 0
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(b[6:], ^uint16(sum))
	return b
}
