package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/core/vrrp"
	"github.com/vigil-ha/vigil/core/vrrp/capture"
	"github.com/vigil-ha/vigil/test/lab"
)

// The keys of the shared captures (core/vrrp/testdata/hmac), written as
// both implementations read them.
const (
	hmacKey1Text = "hex:a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	hmacKey2Text = "keepalived-auth-hmac-key-id-2-for-tests"
	hmacBadText  = "hex:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
)

// hmacSetup is the auth_hmac both implementations run: key id to key,
// the active key, the mode ("": no auth_hmac at all).
type hmacSetup struct {
	keys   map[int]string
	active int
	mode   string
}

func (h hmacSetup) ids() []int {
	var ids []int
	for id := 1; id <= 255; id++ {
		if _, ok := h.keys[id]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// hmacPolicy is s's policy for the lab with h as the site's hmac block.
func hmacPolicy(t *testing.T, l *lab.Lab, s site, h hmacSetup) string {
	t.Helper()
	path := s.policy(t, l, 2, 1)
	if h.mode == "" {
		return path // no hmac
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("site \"lab\" {\n  hmac {\n")
	for _, id := range h.ids() {
		fmt.Fprintf(&b, "    key {\n      id     = %d\n      secret = %q\n    }\n", id, h.keys[id])
	}
	fmt.Fprintf(&b, "    active_key = %d\n    mode       = %q\n  }\n}\n", h.active, h.mode)
	out := strings.Replace(string(src), "site \"lab\" {}\n", b.String(), 1)
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hmacKeepalivedConf is node i's keepalived.conf for s with h.
func hmacKeepalivedConf(l *lab.Lab, s site, i int, h hmacSetup) string {
	if h.mode == "" {
		return s.keepalivedConf(l, i, 1, "")
	}
	var b strings.Builder
	b.WriteString("  auth_hmac {\n")
	for _, id := range h.ids() {
		fmt.Fprintf(&b, "    key %d %s\n", id, h.keys[id])
	}
	fmt.Fprintf(&b, "    active_key %d\n    mode %s\n  }\n", h.active, h.mode)
	return strings.ReplaceAll(s.keepalivedConf(l, i, 1, ""), "  advert_int", b.String()+"  advert_int")
}

// hmacPeer is one implementation on a lab node, restartable and
// reloadable with another auth_hmac.
type hmacPeer struct {
	node
	vigil  *vigilNode
	reload func(h hmacSetup)
}

func startHMACPeer(t *testing.T, l *lab.Lab, s site, i int, vigil bool, h hmacSetup) *hmacPeer {
	t.Helper()
	n := l.Nodes[i]
	p := &hmacPeer{}
	if vigil {
		pol := hmacPolicy(t, l, s, h)
		p.start = func() *lab.Proc { p.vigil = startVigil(t, l, n, pol); return p.vigil.Proc }
		p.reload = func(h hmacSetup) {
			hmacPolicy(t, l, s, h)
			p.proc.Cmd.Process.Signal(syscall.SIGHUP)
		}
	} else {
		bin := lab.Keepalived243(t)
		conf := hmacKeepalivedConf(l, s, i, h)
		p.start = func() *lab.Proc { return n.StartKeepalivedBin(bin, conf) }
		p.reload = func(h hmacSetup) {
			conf = hmacKeepalivedConf(l, s, i, h)
			n.ReloadKeepalived(p.proc, conf)
		}
	}
	p.restart()
	return p
}

// authDrops is what a Vigil node refused of VI_1's adverts, by reason.
func authDrops(t *testing.T, v *vigilNode) map[string]uint64 {
	out := map[string]uint64{}
	for k, n := range v.status(t, "VI_1").Counters {
		if strings.HasPrefix(k, "dropped_auth") && n > 0 {
			out[k] = n
		}
	}
	return out
}

// holdOwner fails unless exactly node holds addr for all of d.
func holdOwner(t *testing.T, l *lab.Lab, addr netip.Addr, node string, d time.Duration, during string) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if h := holders(l, addr); len(h) != 1 || h[0] != node {
			t.Fatalf("%s: %v held by %v, want %s alone", during, addr, h, node)
		}
	}
}

var hmacSites = []struct {
	name string
	site site
}{
	{"v3-ipv4", site{version: 3, interval: "1s"}},
	{"v3-ipv6", site{version: 3, interval: "1s", v6: true}},
	{"v2-ipv4", site{version: 2, interval: "1s"}},
	{"v3-ipv4-unicast", site{version: 3, interval: "1s", unicast: true}},
	{"v3-ipv6-unicast", site{version: 3, interval: "1s", v6: true, unicast: true}},
}

// TestHMACInteropKeepalived: Vigil and keepalived 2.4.3 with auth_hmac on
// VI_1 (n1 at 100, n2 at 60), each way round, in both families, VRRPv2 and
// v3, multicast and unicast: one master; a key rotation (key 2 added on
// both, then made active on each in turn, reloads with SIGHUP) moves
// nothing and refuses nothing; the master's clean stop hands over at once
// (its priority-0 advert is verified: no master-down wait); it preempts
// back when it returns.
func TestHMACInteropKeepalived(t *testing.T) {
	lab.Require(t)
	lab.Keepalived243(t) // built once, before the subtests run side by side
	for _, c := range hmacSites {
		for _, vigilMaster := range []bool{true, false} {
			name := c.name + "/keepalived-master"
			if vigilMaster {
				name = c.name + "/vigil-master"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				l := lab.New(t, 2)
				h := hmacSetup{keys: map[int]string{1: hmacKey1Text}, active: 1, mode: "enforce"}
				master := startHMACPeer(t, l, c.site, 0, vigilMaster, h)
				backup := startHMACPeer(t, l, c.site, 1, !vigilMaster, h)
				v := master.vigil
				if !vigilMaster {
					v = backup.vigil
				}
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("n1:\n%s\nn2:\n%s", master.proc.Output(), backup.proc.Output())
					}
				})
				vip := c.site.vipOf(0)
				waitOwner(t, l, vip, "n1", 10*time.Second)
				holdOwner(t, l, vip, "n1", 3*time.Second, "elected")
				if !vigilMaster {
					lab.WaitFor(t, 3*time.Second, "Vigil to hear keepalived's signed adverts", func() bool {
						return v.status(t, "VI_1").Counters["adverts_received"] >= 2
					})
				}

				// Rotation: key 2 everywhere, then signing with it, node
				// by node.
				h2 := hmacSetup{keys: map[int]string{1: hmacKey1Text, 2: hmacKey2Text}, active: 1, mode: "enforce"}
				master.reload(h2)
				backup.reload(h2)
				holdOwner(t, l, vip, "n1", 2*time.Second, "key 2 added")
				h2.active = 2
				master.reload(h2)
				holdOwner(t, l, vip, "n1", 2*time.Second, "the master signs with key 2")
				backup.reload(h2)
				holdOwner(t, l, vip, "n1", 3*time.Second, "both sign with key 2")
				if d := authDrops(t, v); len(d) > 0 {
					t.Fatalf("Vigil refused adverts through the rotation: %v\n%s", d, v.Output())
				}
				ka := backup.proc
				if !vigilMaster {
					ka = master.proc
				}
				if strings.Contains(ka.Output(), "authentication HMAC") || strings.Contains(ka.Output(), "authentication trailer") {
					t.Fatalf("keepalived refused adverts through the rotation:\n%s", ka.Output())
				}

				// The master stops cleanly: its priority 0 hands over now.
				stopped := time.Now()
				if err := master.proc.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
					t.Fatalf("stop n1: %v", err)
				}
				waitOwner(t, l, vip, "n2", 3*time.Second)
				if took := time.Since(stopped); took > 2500*time.Millisecond {
					t.Errorf("n2 took over %v after the priority-0 advert: did it wait for master-down?", took)
				}
				master.restart()
				waitOwner(t, l, vip, "n1", 10*time.Second)
				if !master.proc.Running() || !backup.proc.Running() {
					t.Fatalf("a daemon died:\n%s\n%s", master.proc.Output(), backup.proc.Output())
				}
				if d := authDrops(t, v); len(d) > 0 {
					t.Fatalf("Vigil refused adverts: %v", d)
				}
			})
		}
	}
}

// TestHMACWrongKeyIsolates: Vigil and keepalived 2.4.3 whose keys 1
// differ refuse each other's adverts as an invalid HMAC, and each is
// master, as two keepalived nodes are (badkey.pcap); Vigil counts and logs
// every refusal under its reason.
func TestHMACWrongKeyIsolates(t *testing.T) {
	lab.Require(t)
	bin := lab.Keepalived243(t)
	l := lab.New(t, 2)
	// keepalived as master restarts its advert timer on every advert it
	// receives, even one it refuses (TestAuthMismatch): at Vigil's own
	// interval it would hardly send. It advertises twice as often.
	s := site{version: 3, interval: "2s"}
	v := startVigil(t, l, l.Nodes[0], hmacPolicy(t, l, s, hmacSetup{keys: map[int]string{1: hmacKey1Text}, active: 1, mode: "enforce"}))
	conf := hmacKeepalivedConf(l, s, 1, hmacSetup{keys: map[int]string{1: hmacBadText}, active: 1, mode: "enforce"})
	k := l.Nodes[1].StartKeepalivedBin(bin, strings.Replace(conf, "advert_int 2\n", "advert_int 1\n", 1))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("vigil:\n%s\nkeepalived:\n%s", v.Output(), k.Output())
		}
	})
	vip := s.vipOf(0)
	lab.WaitFor(t, 10*time.Second, "both nodes master", func() bool { return len(holders(l, vip)) == 2 })
	lab.WaitFor(t, 10*time.Second, "Vigil to refuse 3 adverts", func() bool { return v.status(t, "VI_1").Counters["dropped_auth_hmac"] >= 3 })
	lab.WaitFor(t, 10*time.Second, "keepalived to refuse Vigil's", func() bool { return k.Count("invalid authentication HMAC") >= 1 })
	if !strings.Contains(v.Output(), "VI_1 dropped advert from "+l.Nodes[1].Addr4.String()) || !strings.Contains(v.Output(), "invalid HMAC") {
		t.Errorf("no log line for the refusals:\n%s", v.Output())
	}
}

// TestHMACForgedAdverts: a third host on the segment (the lab's client)
// holds the key's wire format but not fresh adverts: it sends, spoofing
// another router, priority-254 adverts signed an hour ago (stale), a
// captured advert with its priority raised to 254 (bit-flipped, checksum
// fixed), and, once the master is cut off, the master's own captured
// adverts again (replayed) to hold its backup down. Nothing moves: the
// master stays master through the first two, and the backup takes over
// on time through the replays. Both ways round: Vigil and keepalived 2.4.3
// refuse alike.
func TestHMACForgedAdverts(t *testing.T) {
	lab.Require(t, "tcpdump")
	lab.Keepalived243(t)
	for _, v6 := range []bool{false, true} {
		for _, vigilMaster := range []bool{true, false} {
			name := map[bool]string{false: "ipv4", true: "ipv6"}[v6] + map[bool]string{false: "/keepalived-master", true: "/vigil-master"}[vigilMaster]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				forgedAdverts(t, v6, vigilMaster)
			})
		}
	}
}

func forgedAdverts(t *testing.T, v6, vigilMaster bool) {
	l := lab.New(t, 2)
	s := site{version: 3, interval: "1s", v6: v6}
	h := hmacSetup{keys: map[int]string{1: hmacKey1Text}, active: 1, mode: "enforce"}
	master := startHMACPeer(t, l, s, 0, vigilMaster, h)
	backup := startHMACPeer(t, l, s, 1, !vigilMaster, h)
	vip := s.vipOf(0)
	waitOwner(t, l, vip, "n1", 10*time.Second)
	group, forger, filter := vrrp.GroupV4, netip.MustParseAddr("192.0.2.50"), "ip proto 112"
	if v6 {
		group, forger, filter = vrrp.GroupV6, netip.MustParseAddr("fe80::50"), "ip6 proto 112"
	}

	// Capture the master's adverts from the client: the backup is silent.
	pcap := filepath.Join(l.Dir, "adverts.pcap")
	dump := l.Client.Start("tcpdump", "tcpdump", "-U", "-n", "-i", "eth0", "-w", pcap, filter)
	time.Sleep(3500 * time.Millisecond)
	dump.Stop(syscall.SIGINT, 3*time.Second)
	frames, err := capture.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	var captured []capture.Frame
	for _, f := range frames {
		if f.IP && f.Proto == vrrp.IPProto {
			captured = append(captured, f)
		}
	}
	if len(captured) < 2 {
		t.Fatalf("captured %d adverts of n1", len(captured))
	}
	send := newRawSender(t, l.Client).send
	if v6 {
		send = newRawSender6(t, l.Client).send
	}

	// Replayed: the master is cut off; its captured adverts, sent again,
	// must not hold the backup down.
	l.Nodes[0].CutLink()
	cut := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; time.Since(cut) < 6*time.Second; i++ {
			f := captured[i%len(captured)]
			send(f.Src, 255, f.Payload, f.Dst)
			time.Sleep(200 * time.Millisecond)
		}
	}()
	lab.WaitFor(t, 6*time.Second, "n2 to take over from a cut-off n1 through the replays", func() bool { return l.Nodes[1].HasAddr(vip) })
	took := time.Since(cut)
	<-done
	if took > 5*time.Second {
		t.Errorf("n2 took over after %v: the replays held it", took)
	}
	l.Nodes[0].RestoreLink()
	waitOwner(t, l, vip, "n1", 10*time.Second)

	// Stale: signed with the key an hour ago, at 254, from a third
	// address. Bit-flipped: signed now at 50, then raised to 254 and its
	// checksum fixed.
	key1, _ := vrrp.KeyFromText(hmacKey1Text)
	signed := func(at time.Time, prio uint8) vrrp.Advert {
		clk := &fixedHMACClock{wall: at}
		h, err := vrrp.NewHMAC(vrrp.HMACConfig{Keys: map[uint8][]byte{1: key1}, ActiveKey: 1, Window: 5 * time.Second}, clk.clock())
		if err != nil {
			t.Fatal(err)
		}
		a := vrrp.Advert{Version: vrrp.V3, VRID: 21, Priority: prio, Interval: time.Second, Addrs: []netip.Addr{vip}}
		h.Sign(&a, forger)
		return a
	}
	stale := signed(time.Now().Add(-time.Hour), 254)
	staleMsg, _ := stale.Marshal(forger, group)
	for i := 0; i < 30; i++ {
		flipped := signed(time.Now(), 50)
		flipped.Priority = 254
		flippedMsg, _ := flipped.Marshal(forger, group)
		send(forger, 255, staleMsg, group)
		send(forger, 255, flippedMsg, group)
		time.Sleep(100 * time.Millisecond)
	}
	holdOwner(t, l, vip, "n1", time.Second, "stale and bit-flipped adverts at 254")

	// Each refusal under its reason.
	if vigilMaster {
		d := authDrops(t, master.vigil)
		if d["dropped_auth_stale"] == 0 || d["dropped_auth_hmac"] == 0 {
			t.Errorf("the master counted %v", d)
		}
		for _, want := range []string{"replayed authentication trailer", "stale authentication trailer", "invalid authentication HMAC"} {
			if !strings.Contains(backup.proc.Output(), want) {
				t.Errorf("keepalived did not log %q", want)
			}
		}
	} else {
		d := authDrops(t, backup.vigil)
		if d["dropped_auth_stale"] == 0 || d["dropped_auth_hmac"] == 0 || d["dropped_auth_replay"] == 0 {
			t.Errorf("the backup counted %v", d)
		}
	}
}

// rawSender6 sends hand-made IPv6 packets (IPPROTO_RAW: the header is
// ours) from the node, whatever their source.
type rawSender6 struct {
	fd    int
	index int
}

func newRawSender6(t *testing.T, n *lab.Node) *rawSender6 {
	var s rawSender6
	var err error
	n.Do(func() {
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName("eth0"); err != nil {
			return
		}
		s.index = ifi.Index
		if s.fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW); err == nil {
			err = unix.BindToDevice(s.fd, "eth0")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return &s
}

func (s *rawSender6) send(src netip.Addr, hops byte, msg []byte, dst netip.Addr) error {
	h := make([]byte, 40, 40+len(msg))
	h[0], h[1] = 0x60|vrrp.TOS>>4, byte(vrrp.TOS&0x0f)<<4
	binary.BigEndian.PutUint16(h[4:], uint16(len(msg)))
	h[6], h[7] = vrrp.IPProto, hops
	copy(h[8:24], src.AsSlice())
	copy(h[24:40], dst.AsSlice())
	return unix.Sendto(s.fd, append(h, msg...), 0, &unix.SockaddrInet6{Addr: dst.As16(), ZoneId: uint32(s.index)})
}

// fixedHMACClock is a signer's clock stopped at wall.
type fixedHMACClock struct{ wall time.Time }

func (c *fixedHMACClock) clock() vrrp.Clock {
	return vrrp.Clock{Wall: func() time.Time { return c.wall }, Mono: func() time.Duration { return 0 }}
}

// TestHMACRolloutLive: docs/migrating.md's recipe on the wire, a Vigil
// node and a keepalived 2.4.3 node, each step reloaded on one node and
// then the other: none, receive-only, permissive, enforce. Between and
// after the reloads the master stays the one master and neither side
// refuses an advert; vigil plan --from calls each step safe (core/policy
// TestRollout), and a step it calls unsafe, enforce to none, splits the
// pair here too.
func TestHMACRolloutLive(t *testing.T) {
	lab.Require(t)
	lab.Keepalived243(t)
	for _, vigilMaster := range []bool{true, false} {
		name := "keepalived-master"
		if vigilMaster {
			name = "vigil-master"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := lab.New(t, 2)
			s := site{version: 3, interval: "1s"}
			keys := map[int]string{1: hmacKey1Text}
			master := startHMACPeer(t, l, s, 0, vigilMaster, hmacSetup{})
			backup := startHMACPeer(t, l, s, 1, !vigilMaster, hmacSetup{})
			v, ka := master.vigil, backup.proc
			if !vigilMaster {
				v, ka = backup.vigil, master.proc
			}
			vip := s.vipOf(0)
			waitOwner(t, l, vip, "n1", 10*time.Second)
			for _, mode := range []string{"receive-only", "permissive", "enforce"} {
				h := hmacSetup{keys: keys, active: 1, mode: mode}
				master.reload(h)
				holdOwner(t, l, vip, "n1", 2500*time.Millisecond, "n1 on "+mode)
				backup.reload(h)
				holdOwner(t, l, vip, "n1", 2500*time.Millisecond, "both on "+mode)
			}
			if d := authDrops(t, v); len(d) > 0 {
				t.Fatalf("Vigil refused adverts during the rollout: %v", d)
			}
			if strings.Contains(ka.Output(), "authentication") {
				t.Fatalf("keepalived refused adverts during the rollout:\n%s", ka.Output())
			}
			// A step plan --from calls unsafe: the backup back to none
			// while the master enforces. The backup, without auth_hmac,
			// refuses the master's signed adverts and takes over; the
			// master refuses the backup's unsigned ones: two masters.
			backup.reload(hmacSetup{})
			lab.WaitFor(t, 10*time.Second, "two masters after an unsafe step", func() bool { return len(holders(l, vip)) == 2 })
		})
	}
}
