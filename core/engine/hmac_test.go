package engine

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/vrrp"
)

const hmacPolicy = `
instance "VI_1" {
  vrid            = 1
  version         = 3
  advert_interval = "100ms"
  vips            = ["192.0.2.11/24"]
  priority        = { n1 = 100, n2 = 150 }
  hmac {
    key {
      id     = 1
      secret = "hex:a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    }
    key {
      id     = 2
      secret = "keepalived-auth-hmac-key-id-2-for-tests"
    }
    active_key = 1
  }
}
`

// peerSigner signs adverts as n2 would, on a wall clock offset by *skew.
type peerSigner struct {
	h    *vrrp.HMAC
	skew atomic.Int64
}

func newPeerSigner(t *testing.T, key []byte) *peerSigner {
	t.Helper()
	p := &peerSigner{}
	start := time.Now()
	h, err := vrrp.NewHMAC(vrrp.HMACConfig{Keys: map[uint8][]byte{1: key}, ActiveKey: 1, Window: 5 * time.Second},
		vrrp.Clock{Wall: func() time.Time { return time.Now().Add(time.Duration(p.skew.Load())) }, Mono: func() time.Duration { return time.Since(start) }})
	if err != nil {
		t.Fatal(err)
	}
	p.h = h
	return p
}

var hmacKey1 = []byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf}

func (p *peerSigner) advert(t *testing.T, prio uint8) vrrp.Advert {
	t.Helper()
	a := vrrp.Advert{Version: vrrp.V3, VRID: 1, Priority: prio, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.11")}}
	if err := p.h.Sign(&a, netip.MustParseAddr("192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestHMACInstance: an instance with keys signs what it sends and obeys
// only a signed, fresh, new advert; each refusal is counted by reason.
func TestHMACInstance(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	if err := r.e.Apply(nodeConfig(t, hmacPolicy)); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "MASTER", func(s Status) bool { return s.State == "MASTER" })
	if st := r.e.Status()[0]; st.Auth != "hmac enforce key 1" {
		t.Errorf("status auth %q", st.Auth)
	}
	r.wire.mu.Lock()
	sent := r.wire.trailers[1]
	r.wire.mu.Unlock()
	if len(sent) == 0 || sent[0].KeyID != 1 {
		t.Fatalf("sent trailers %+v", sent)
	}

	plain := vrrp.Advert{Version: vrrp.V3, VRID: 1, Priority: 200, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.11")}}
	r.wire.inject(t, "eth0", plain, "192.0.2.2")
	r.waitFor(t, "the unsigned advert counted", func(s Status) bool { return s.Counters["dropped_auth_missing"] == 1 })
	forger := newPeerSigner(t, []byte(strings.Repeat("\xff", 32)))
	r.wire.inject(t, "eth0", forger.advert(t, 200), "192.0.2.2")
	r.waitFor(t, "the forged advert counted", func(s Status) bool { return s.Counters["dropped_auth_hmac"] == 1 })
	if st := r.e.Status()[0]; st.State != "MASTER" {
		t.Fatalf("obeyed an unauthenticated advert: %+v", st)
	}

	peer := newPeerSigner(t, hmacKey1)
	good := peer.advert(t, 200)
	r.wire.inject(t, "eth0", good, "192.0.2.2")
	r.waitFor(t, "the signed advert obeyed", func(s Status) bool { return s.State == "BACKUP" && s.Master == "192.0.2.2" })
	r.wire.inject(t, "eth0", good, "192.0.2.2")
	r.waitFor(t, "the replay counted", func(s Status) bool { return s.Counters["dropped_auth_replay"] == 1 })
	old := newPeerSigner(t, hmacKey1) // an hour behind: an old capture, or a clock that is wrong
	old.skew.Store(int64(-time.Hour))
	r.wire.inject(t, "eth0", old.advert(t, 200), "192.0.2.2")
	r.waitFor(t, "the stale advert counted", func(s Status) bool { return s.Counters["dropped_auth_stale"] == 1 })
	unknown := good
	unknown.Trailer.KeyID = 3
	r.wire.inject(t, "eth0", unknown, "192.0.2.2")
	r.waitFor(t, "the unknown key counted", func(s Status) bool { return s.Counters["dropped_auth_unknown_key"] == 1 })
	malformed := good
	malformed.Trailer.Reserved = 1
	r.wire.inject(t, "eth0", malformed, "192.0.2.2")
	r.waitFor(t, "the malformed trailer counted", func(s Status) bool { return s.Counters["dropped_auth_malformed"] == 1 })
	if !strings.Contains(r.log.String(), "VI_1 dropped advert from 192.0.2.2") {
		t.Errorf("no log line for the refusals:\n%s", r.log.String())
	}
}

// TestHMACKeyRotationInPlace: a reload that moves active_key (or changes
// the keys) neither restarts the instance nor resets its sequence or
// replay marks: the master stays master, its next advert carries the new
// key id and a later sequence, and an advert it accepted before is still
// a replay. keepalived's reload starts the sequence state afresh.
func TestHMACKeyRotationInPlace(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	if err := r.e.Apply(nodeConfig(t, hmacPolicy)); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "MASTER", func(s Status) bool { return s.State == "MASTER" })
	peer := newPeerSigner(t, hmacKey1)
	low := peer.advert(t, 50) // a backup's advert: checked, not obeyed
	r.wire.inject(t, "eth0", low, "192.0.2.2")
	r.waitFor(t, "the backup's advert heard", func(s Status) bool { return s.Counters["adverts_received"] == 1 })
	before := len(r.transitionsOf("VI_1"))
	r.wire.mu.Lock()
	last := r.wire.trailers[1][len(r.wire.trailers[1])-1]
	r.wire.mu.Unlock()

	if err := r.e.Apply(nodeConfig(t, strings.Replace(hmacPolicy, "active_key = 1", "active_key = 2", 1))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	var rotated vrrp.Trailer
	for rotated.KeyID != 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		r.wire.mu.Lock()
		rotated = r.wire.trailers[1][len(r.wire.trailers[1])-1]
		r.wire.mu.Unlock()
	}
	if rotated.KeyID != 2 || !rotated.Seq.After(last.Seq) {
		t.Fatalf("after the reload: key %d, sequence %#x after %#x", rotated.KeyID, uint64(rotated.Seq), uint64(last.Seq))
	}
	if got := r.transitionsOf("VI_1"); len(got) != before || r.state("VI_1") != "MASTER" {
		t.Fatalf("the reload moved the instance: %v\n%s", got, r.log.String())
	}
	if !strings.Contains(r.log.String(), "VI_1 authentication changed, applied in place") {
		t.Errorf("no log line for the rotation:\n%s", r.log.String())
	}
	r.wire.inject(t, "eth0", low, "192.0.2.2")
	r.waitFor(t, "the replay counted after the reload", func(s Status) bool { return s.Counters["dropped_auth_replay"] == 1 })
}

// TestHMACClockStepKeepsOneMaster: n2 is master (adverts every 100 ms),
// n1 its backup. This node's wall clock steps an hour forward, then back;
// the master's steps an hour back, then forward. n1 never takes over and
// refuses no advert. keepalived 2.4.3 refuses the master's adverts as
// stale at each step, and its backup becomes a second master.
func TestHMACClockStepKeepsOneMaster(t *testing.T) {
	var skew atomic.Int64
	start := time.Now()
	clock := &vrrp.Clock{Wall: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }, Mono: func() time.Duration { return time.Since(start) }}
	r := newRigWith(t, newFakeAddrs(), Options{Clock: clock})
	if err := r.e.Apply(nodeConfig(t, hmacPolicy)); err != nil {
		t.Fatal(err)
	}
	peer := newPeerSigner(t, hmacKey1)
	r.wire.inject(t, "eth0", peer.advert(t, 150), "192.0.2.2")
	r.waitFor(t, "BACKUP", func(s Status) bool { return s.State == "BACKUP" && s.Master == "192.0.2.2" })
	steps := map[int]func(){
		5:  func() { skew.Store(int64(time.Hour)) },
		15: func() { skew.Store(0) },
		25: func() { peer.skew.Store(int64(-time.Hour)) },
		35: func() { peer.skew.Store(0) },
	}
	for i := range 45 {
		if step := steps[i]; step != nil {
			step()
		}
		r.wire.inject(t, "eth0", peer.advert(t, 150), "192.0.2.2")
		time.Sleep(100 * time.Millisecond)
	}
	st := r.e.Status()[0]
	for k, v := range st.Counters {
		if strings.HasPrefix(k, "dropped_") && v > 0 {
			t.Errorf("%s = %d", k, v)
		}
	}
	if got := r.transitionsOf("VI_1"); contains(got, "MASTER") {
		t.Fatalf("a clock step made a second master: %v\n%s", got, r.log.String())
	}
}
