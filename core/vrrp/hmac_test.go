package vrrp_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/vrrp"
)

// node is one router of a simulated pair: its clocks and its HMAC.
type node struct {
	clk *fixedClock
	h   *vrrp.HMAC
	src netip.Addr
}

func newNode(t *testing.T, src string, replay vrrp.AntiReplay) *node {
	t.Helper()
	n := &node{clk: &fixedClock{wall: time.Unix(1796533887, 0)}, src: netip.MustParseAddr(src)}
	h, err := vrrp.NewHMAC(vrrp.HMACConfig{Keys: map[uint8][]byte{1: hmacKey1}, ActiveKey: 1, AntiReplay: replay, Window: 5 * time.Second}, n.clk.clock())
	if err != nil {
		t.Fatal(err)
	}
	n.h = h
	return n
}

// send is an advert n signs at priority prio, as received.
func (n *node) send(t *testing.T, prio uint8) []byte {
	t.Helper()
	a := vrrp.Advert{Version: vrrp.V3, VRID: 51, Priority: prio, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	if err := n.h.Sign(&a, n.src); err != nil {
		t.Fatal(err)
	}
	b, err := a.Marshal(n.src, vrrp.GroupV4)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// receive is n's verdict on msg from src.
func (n *node) receive(msg []byte, src netip.Addr) error {
	var a vrrp.Advert
	if err := a.Unmarshal(msg, src, vrrp.GroupV4); err != nil {
		return err
	}
	return n.h.Check(&a, src)
}

// tick moves both clocks of every node on by d.
func tick(d time.Duration, ns ...*node) {
	for _, n := range ns {
		n.clk.wall = n.clk.wall.Add(d)
		n.clk.mono += d
	}
}

// TestHMACClockSteps: a master sending every second and a backup
// listening, the clocks agreeing, then one clock stepped (NTP) by less
// and by more than the window, forward and back. The backup must accept
// every advert the master sends after the step: one refused for
// master-down-interval (3 s here) would make it master too. keepalived
// 2.4.3 refuses the master's adverts as stale once the step passes the
// window, whichever clock stepped.
func TestHMACClockSteps(t *testing.T) {
	for _, who := range []string{"master", "backup"} {
		for _, step := range []time.Duration{3 * time.Second, -3 * time.Second, time.Minute, -time.Minute, time.Hour, -time.Hour} {
			t.Run(fmt.Sprintf("%s %+v", who, step), func(t *testing.T) {
				m, b := newNode(t, "192.0.2.61", vrrp.ReplayTime), newNode(t, "192.0.2.62", vrrp.ReplayTime)
				for range 5 {
					if err := b.receive(m.send(t, 150), m.src); err != nil {
						t.Fatalf("before the step: %v", err)
					}
					tick(time.Second, m, b)
				}
				stepped := m
				if who == "backup" {
					stepped = b
				}
				stepped.clk.wall = stepped.clk.wall.Add(step)
				for i := range 20 {
					if err := b.receive(m.send(t, 150), m.src); err != nil {
						t.Fatalf("advert %d after the step refused: %v", i+1, err)
					}
					tick(time.Second, m, b)
				}
			})
		}
	}
}

// TestHMACClockCorrected: the master's clock was an hour ahead, so the
// pair were both master (each refused the other's adverts as stale);
// NTP steps it back. The backup's adverts, now fresh, show the master its
// sequence is ahead: it returns to its clock, and the backup accepts it
// again.
func TestHMACClockCorrected(t *testing.T) {
	m, b := newNode(t, "192.0.2.61", vrrp.ReplayTime), newNode(t, "192.0.2.62", vrrp.ReplayTime)
	m.clk.wall = m.clk.wall.Add(time.Hour)
	for range 5 {
		if err := b.receive(m.send(t, 150), m.src); !errors.Is(err, vrrp.ErrAuthStale) {
			t.Fatalf("an hour ahead: %v, want stale", err)
		}
		if err := m.receive(b.send(t, 100), b.src); !errors.Is(err, vrrp.ErrAuthStale) {
			t.Fatalf("an hour behind: %v, want stale", err)
		}
		tick(time.Second, m, b)
	}
	m.clk.wall = m.clk.wall.Add(-time.Hour)
	// Until it hears the backup, the master holds its sequence (its clock
	// might be the wrong one).
	if err := b.receive(m.send(t, 150), m.src); !errors.Is(err, vrrp.ErrAuthStale) {
		t.Fatalf("held sequence: %v", err)
	}
	if err := m.receive(b.send(t, 100), b.src); err != nil {
		t.Fatalf("the backup's advert after the correction: %v", err)
	}
	for i := range 5 {
		tick(time.Second, m, b)
		if err := b.receive(m.send(t, 150), m.src); err != nil {
			t.Fatalf("advert %d after the correction: %v", i+1, err)
		}
	}
}

// TestHMACSequence: adverts sent within one clock tick, or after the clock
// went back, still grow; a backward step does not rewind the sequence.
func TestHMACSequence(t *testing.T) {
	n := newNode(t, "192.0.2.61", vrrp.ReplayTime)
	var last vrrp.Seq
	seq := func() vrrp.Seq {
		var a vrrp.Advert
		msg := n.send(t, 100)
		if err := a.Unmarshal(msg, n.src, vrrp.GroupV4); err != nil {
			t.Fatal(err)
		}
		return a.Trailer.Seq
	}
	for i := range 50 {
		s := seq()
		if i > 0 && !s.After(last) {
			t.Fatalf("advert %d: %#x not after %#x", i, uint64(s), uint64(last))
		}
		last = s
		if i%10 == 9 {
			n.clk.wall = n.clk.wall.Add(-10 * time.Minute) // a backward step
		}
		tick(100*time.Millisecond, n)
	}
	if want := vrrp.SeqAt(time.Unix(1796533887, 0).Add(5 * time.Second)); last.Sec() > want.Sec() || want.Sec()-last.Sec() > 1 {
		t.Fatalf("after 5 s the sequence is at %d s, want about %d", last.Sec(), want.Sec())
	}
}

// TestHMACInherit: a reload (a new HMAC for the new configuration, here
// rotating to key 2) keeps the sequence and the replay marks: the old
// key's adverts still verify, a replay is still one, and the sequence
// sent goes on growing. keepalived's reload starts afresh.
func TestHMACInherit(t *testing.T) {
	clk := &fixedClock{wall: time.Unix(1796533887, 0)}
	old := newHMAC(t, clk, map[uint8][]byte{1: hmacKey1, 2: hmacKey2}, 1, vrrp.HMACEnforce)
	peer := newNode(t, "192.0.2.62", vrrp.ReplayTime)
	peer.clk = clk
	var p vrrp.Advert
	msg := peer.send(t, 100)
	if err := p.Unmarshal(msg, peer.src, vrrp.GroupV4); err != nil {
		t.Fatal(err)
	}
	if err := old.Check(&p, peer.src); err != nil {
		t.Fatal(err)
	}
	var sent vrrp.Advert
	for range 3 {
		sent = vrrp.Advert{Version: vrrp.V3, VRID: 51, Priority: 100, Interval: time.Second, Addrs: p.Addrs}
		_ = old.Sign(&sent, netip.MustParseAddr("192.0.2.61"))
	}
	rotated := newHMAC(t, clk, map[uint8][]byte{1: hmacKey1, 2: hmacKey2}, 2, vrrp.HMACEnforce)
	rotated.Inherit(old)
	if err := rotated.Check(&p, peer.src); !errors.Is(err, vrrp.ErrAuthReplay) {
		t.Fatalf("replay after the reload: %v", err)
	}
	clk.wall = clk.wall.Add(-time.Minute) // and the clock steps back
	next := vrrp.Advert{Version: vrrp.V3, VRID: 51, Priority: 100, Interval: time.Second, Addrs: p.Addrs}
	_ = rotated.Sign(&next, netip.MustParseAddr("192.0.2.61"))
	if next.Trailer.KeyID != 2 || !next.Trailer.Seq.After(sent.Trailer.Seq) {
		t.Fatalf("after the reload: key %d, sequence %#x after %#x", next.Trailer.KeyID, uint64(next.Trailer.Seq), uint64(sent.Trailer.Seq))
	}
}

// TestHMACReplayStateBounded: however many sources send, an instance
// keeps at most 4 multicast marks, and only for verified adverts.
func TestHMACReplayStateBounded(t *testing.T) {
	clk := &fixedClock{wall: time.Unix(1796533887, 0)}
	h := newHMAC(t, clk, map[uint8][]byte{1: hmacKey1}, 1, vrrp.HMACEnforce)
	forger := newHMAC(t, clk, map[uint8][]byte{1: hmacKeyBad}, 1, vrrp.HMACEnforce)
	signer := newHMAC(t, clk, map[uint8][]byte{1: hmacKey1}, 1, vrrp.HMACEnforce)
	for i := range 1000 {
		src := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		for _, s := range []*vrrp.HMAC{forger, signer} {
			a := vrrp.Advert{Version: vrrp.V3, VRID: 51, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
			_ = s.Sign(&a, src)
			err := h.Check(&a, src)
			if (s == forger) != errors.Is(err, vrrp.ErrAuthHMAC) {
				t.Fatalf("source %v: %v", src, err)
			}
		}
		if h.Senders() > 4 {
			t.Fatalf("%d senders' marks", h.Senders())
		}
	}
	// Unicast: one mark per peer, no other source.
	peer := netip.MustParseAddr("192.0.2.62")
	u := newHMAC(t, clk, map[uint8][]byte{1: hmacKey1}, 1, vrrp.HMACEnforce, peer)
	a := vrrp.Advert{Version: vrrp.V3, VRID: 51, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	_ = signer.Sign(&a, netip.MustParseAddr("192.0.2.63"))
	if err := u.Check(&a, netip.MustParseAddr("192.0.2.63")); !errors.Is(err, vrrp.ErrSource) || u.Senders() != 1 {
		t.Fatalf("a stranger at a unicast instance: %v, %d marks", err, u.Senders())
	}
}

// TestHMACMonotonic: anti_replay monotonic takes any clock, refuses only
// a sequence that does not grow.
func TestHMACMonotonic(t *testing.T) {
	m, b := newNode(t, "192.0.2.61", vrrp.ReplayMonotonic), newNode(t, "192.0.2.62", vrrp.ReplayMonotonic)
	m.clk.wall = m.clk.wall.Add(24 * time.Hour)
	msg := m.send(t, 150)
	if err := b.receive(msg, m.src); err != nil {
		t.Fatalf("a day ahead: %v", err)
	}
	if err := b.receive(msg, m.src); !errors.Is(err, vrrp.ErrAuthReplay) {
		t.Fatalf("again: %v", err)
	}
}

// TestHMACConfig: what NewHMAC refuses.
func TestHMACConfig(t *testing.T) {
	k := map[uint8][]byte{1: hmacKey1}
	for _, c := range []vrrp.HMACConfig{
		{},
		{Keys: map[uint8][]byte{0: hmacKey1}, Window: time.Second},
		{Keys: map[uint8][]byte{1: hmacKey1[:31]}, ActiveKey: 1, Window: time.Second},
		{Keys: map[uint8][]byte{1: make([]byte, 65)}, ActiveKey: 1, Window: time.Second},
		{Keys: k, ActiveKey: 2, Window: time.Second},
		{Keys: k, ActiveKey: 1, Window: 301 * time.Second},
		{Keys: k, ActiveKey: 1},
	} {
		if _, err := vrrp.NewHMAC(c, vrrp.SystemClock()); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	for in, want := range map[time.Duration]time.Duration{time.Second: 5 * time.Second, 100 * time.Millisecond: 5 * time.Second, 2500 * time.Millisecond: 6 * time.Second, 200 * time.Second: 300 * time.Second} {
		if got := vrrp.DefaultWindow(in); got != want {
			t.Errorf("window for %v: %v, want %v", in, got, want)
		}
	}
}

// TestHMACSkewWarning: an accepted advert whose clock is more than half
// the window from ours is reported (keepalived warns then); a closer one
// is not.
func TestHMACSkewWarning(t *testing.T) {
	for _, c := range []struct {
		skew time.Duration
		warn bool
	}{{time.Second, false}, {-2 * time.Second, false}, {3 * time.Second, true}, {-4 * time.Second, true}} {
		m, b := newNode(t, "192.0.2.61", vrrp.ReplayTime), newNode(t, "192.0.2.62", vrrp.ReplayTime)
		var got []time.Duration
		b.h.OnSkew = func(_ netip.Addr, skew time.Duration) { got = append(got, skew) }
		m.clk.wall = m.clk.wall.Add(c.skew)
		if err := b.receive(m.send(t, 100), m.src); err != nil {
			t.Fatal(err)
		}
		if c.warn != (len(got) == 1) || (c.warn && got[0] != c.skew) {
			t.Errorf("skew %v: warnings %v", c.skew, got)
		}
	}
}

// TestKeyFromText: keys as keepalived reads them (its read_hex_str).
func TestKeyFromText(t *testing.T) {
	for _, c := range []struct {
		in, want string // want in hex; "error" for none
	}{
		{"hex:a0a1", "a0a1"},
		{"hex:A0a1", "a0a1"},
		{"hex:a0 a1\ta2", "a0a1a2"},
		{"hex:a0 b c1", "a00bc1"},
		{"hex:abc", "ab0c"},
		{"hex:", "error"},
		{"hex:a0g1", "error"},
		{"hex:a\t0", "error"},
		{"plain text", "706c61696e2074657874"},
		{"HEX:a0", "4845583a6130"},
	} {
		got, err := vrrp.KeyFromText(c.in)
		if s := fmt.Sprintf("%x", got); (err != nil) != (c.want == "error") || (err == nil && s != c.want) {
			t.Errorf("%q: %s %v, want %s", c.in, s, err, c.want)
		}
	}
}

// TestHMACSequenceAfterLongPause: after a backward clock step, adverts
// sent seconds apart (a long advert interval) move the sequence on by the
// time elapsed. The elapsed nanoseconds times 2^32 overflowed past 4.3 s
// and moved it by a wrapped amount.
func TestHMACSequenceAfterLongPause(t *testing.T) {
	n := newNode(t, "192.0.2.61", vrrp.ReplayTime)
	seq := func() vrrp.Seq {
		var a vrrp.Advert
		if err := a.Unmarshal(n.send(t, 100), n.src, vrrp.GroupV4); err != nil {
			t.Fatal(err)
		}
		return a.Trailer.Seq
	}
	first := seq()
	n.clk.wall = n.clk.wall.Add(-10 * time.Minute)
	for _, pause := range []time.Duration{10 * time.Second, 40 * time.Second, 90 * time.Second} {
		tick(pause, n)
		next := seq()
		if got := time.Duration(next.Sec()-first.Sec()) * time.Second; !next.After(first) || got != pause {
			t.Fatalf("after %v: the sequence moved %v", pause, got)
		}
		first = next
	}
}
