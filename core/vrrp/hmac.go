package vrrp

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
	"net/netip"
	"slices"
	"time"
)

// HMACMode is how strictly an instance with HMAC keys treats adverts
// (keepalived's auth_hmac mode).
type HMACMode uint8

const (
	// HMACEnforce signs every advert and accepts only signed ones.
	HMACEnforce HMACMode = iota
	// HMACPermissive signs every advert and also accepts unsigned ones.
	HMACPermissive
	// HMACReceiveOnly sends plain adverts and accepts unsigned ones; a
	// signed one is verified all the same.
	HMACReceiveOnly
)

func (m HMACMode) String() string {
	switch m {
	case HMACEnforce:
		return "enforce"
	case HMACPermissive:
		return "permissive"
	case HMACReceiveOnly:
		return "receive-only"
	}
	return fmt.Sprintf("mode %d", uint8(m))
}

// AntiReplay is how a receiver knows an advert is not an old one.
type AntiReplay uint8

const (
	// ReplayTime refuses adverts whose time is more than the window from
	// the receiver's clock, and any not after the last one accepted.
	ReplayTime AntiReplay = iota
	// ReplayMonotonic refuses only adverts not after the last accepted:
	// no clock agreement needed, no protection after a receiver restart.
	ReplayMonotonic
)

func (r AntiReplay) String() string {
	if r == ReplayMonotonic {
		return "monotonic"
	}
	return "time"
}

// Key lengths keepalived accepts.
const (
	MinKeyLen = 32
	MaxKeyLen = 64
	// MaxWindow is the largest freshness window.
	MaxWindow = 300 * time.Second
	// mcastSenders is how many multicast senders' replay marks an instance
	// keeps (keepalived's 4): a site has a handful of routers per VRID.
	mcastSenders = 4
)

// DefaultWindow is keepalived's freshness window for an advert interval:
// three intervals in whole seconds, at least 5 s, at most MaxWindow.
func DefaultWindow(interval time.Duration) time.Duration {
	return min(max(3*interval.Truncate(time.Second), 5*time.Second), MaxWindow)
}

// HMACConfig is one instance's auth_hmac.
type HMACConfig struct {
	Keys       map[uint8][]byte // by key id, 1..255
	ActiveKey  uint8            // the key adverts are signed with
	Mode       HMACMode
	AntiReplay AntiReplay
	Window     time.Duration // whole seconds, 1 s .. MaxWindow
	// Peers are a unicast instance's peers: each has its replay state, and
	// no other source is accepted. Empty: multicast.
	Peers []netip.Addr
}

// Clock is what an HMAC reads: the wall clock adverts carry, and a
// monotonic clock (time since any fixed point) that no step moves.
type Clock struct {
	Wall func() time.Time
	Mono func() time.Duration
}

// SystemClock is the host's clocks.
func SystemClock() Clock {
	start := time.Now()
	return Clock{Wall: time.Now, Mono: func() time.Duration { return time.Since(start) }}
}

// HMAC is keepalived's auth_hmac: a trailer with a sequence number and a
// truncated HMAC-SHA256 over a pseudo-header, the PDU and the trailer
// (FORMAT.md §3). It keeps state, sequence sent and replay marks, so an
// instance has one of its own, handed on across reloads (Inherit).
//
// Where it goes further than keepalived, keeping its wire format:
//   - a sender heard within the window may move its clock forward any
//     distance (its sequence must still grow): a master's or a backup's
//     clock step does not make a takeover;
//   - the sequence sent never goes back with a backward clock step: it goes
//     on at the monotonic clock's pace, and returns to the wall clock only
//     when a verified advert, fresh by that clock, shows the step was a
//     correction (our sequence was ahead of our peers').
type HMAC struct {
	cfg     HMACConfig
	clock   Clock
	macs    map[uint8]hash.Hash
	scratch []byte
	sum     []byte
	st      *hmacState
	// OnSkew, if set, hears of an accepted advert whose clock is more than
	// half the window from ours (keepalived warns then).
	OnSkew func(src netip.Addr, skew time.Duration)
}

type hmacState struct {
	sent    Seq
	sentAt  time.Duration // monotonic
	hasSent bool
	senders []sender
	lru     uint64
}

// sender is one source's replay mark.
type sender struct {
	addr  netip.Addr
	mark  Seq
	valid bool
	at    time.Duration // monotonic, when mark was accepted
	used  uint64
}

// NewHMAC checks cfg and returns an HMAC with fresh state.
func NewHMAC(cfg HMACConfig, clock Clock) (*HMAC, error) {
	if len(cfg.Keys) == 0 {
		return nil, fmt.Errorf("vrrp: auth_hmac needs at least one key")
	}
	for id, k := range cfg.Keys {
		if id == 0 {
			return nil, fmt.Errorf("vrrp: auth_hmac key id 0: ids are 1 to 255")
		}
		if len(k) < MinKeyLen || len(k) > MaxKeyLen {
			return nil, fmt.Errorf("vrrp: auth_hmac key %d is %d bytes, want %d to %d", id, len(k), MinKeyLen, MaxKeyLen)
		}
	}
	if _, ok := cfg.Keys[cfg.ActiveKey]; !ok {
		return nil, fmt.Errorf("vrrp: auth_hmac active key %d is not defined", cfg.ActiveKey)
	}
	if cfg.AntiReplay == ReplayTime && (cfg.Window < time.Second || cfg.Window > MaxWindow || cfg.Window%time.Second != 0) {
		return nil, fmt.Errorf("vrrp: auth_hmac time window %v: whole seconds from 1s to %v", cfg.Window, MaxWindow)
	}
	h := &HMAC{cfg: cfg, clock: clock, macs: map[uint8]hash.Hash{}, st: &hmacState{}}
	for id, k := range cfg.Keys {
		h.macs[id] = hmac.New(sha256.New, k)
	}
	h.st.senders = h.slots(nil)
	return h, nil
}

// slots are the replay slots for h's configuration: one per unicast peer
// (its mark kept from old if it had one), or old's multicast ones.
func (h *HMAC) slots(old []sender) []sender {
	if len(h.cfg.Peers) == 0 {
		return append(make([]sender, 0, mcastSenders), old...)
	}
	out := make([]sender, 0, len(h.cfg.Peers))
	for _, p := range h.cfg.Peers {
		s := sender{addr: p.Unmap()}
		if i := slices.IndexFunc(old, func(o sender) bool { return o.addr == s.addr }); i >= 0 {
			s = old[i]
		}
		out = append(out, s)
	}
	return out
}

// Inherit takes over prev's sequence and replay marks when prev is the
// HMAC of this instance's previous configuration: a reload or a key
// rotation neither rewinds what it sends nor forgets what it has seen.
func (h *HMAC) Inherit(prev Auth) {
	p, ok := prev.(*HMAC)
	if !ok || p == nil {
		return
	}
	old := p.st.senders
	if (len(p.cfg.Peers) == 0) != (len(h.cfg.Peers) == 0) {
		old = nil // multicast to unicast or back: other senders
	}
	h.st = &hmacState{sent: p.st.sent, sentAt: p.st.sentAt, hasSent: p.st.hasSent, lru: p.st.lru}
	h.st.senders = h.slots(old)
}

// Sign implements Auth: it clears VRRPv2's auth fields and, unless the
// mode is receive-only, signs a as sent from src.
func (h *HMAC) Sign(a *Advert, src netip.Addr) error {
	a.AuthType, a.Password, a.Signed = AuthNone, [8]byte{}, false
	if h.cfg.Mode == HMACReceiveOnly {
		return nil
	}
	a.Trailer = Trailer{Type: ExtHMACSHA256, KeyID: h.cfg.ActiveKey, Seq: h.next()}
	a.Signed = true
	mac, _ := h.mac(a, src, h.cfg.ActiveKey)
	a.Trailer.MAC = mac
	return nil
}

// next is the sequence number of the next advert: the clock's, or, when
// the clock has not moved past the last one sent, the last one moved on
// by the time elapsed (at least by one).
func (h *HMAC) next() Seq {
	st, now, mono := h.st, SeqAt(h.clock.Wall()), h.clock.Mono()
	switch {
	case !st.hasSent || now.After(st.sent):
		st.sent = now
	default:
		next := st.sent + seqDuration(mono-st.sentAt)
		if !next.After(st.sent) {
			next = st.sent + 1
		}
		st.sent = next
	}
	st.sentAt, st.hasSent = mono, true
	return st.sent
}

// mac is the truncated HMAC of a (with its trailer's fields) from src
// under key id, and false if there is no such key.
func (h *HMAC) mac(a *Advert, src netip.Addr, id uint8) (out [MACLen]byte, ok bool) {
	m := h.macs[id]
	if m == nil {
		return out, false
	}
	h.scratch = appendHMACInput(h.scratch[:0], a, src)
	m.Reset()
	m.Write(h.scratch)
	h.sum = m.Sum(h.sum[:0])
	copy(out[:], h.sum)
	return out, true
}

// appendHMACInput appends what the HMAC covers: a pseudo-header (family
// 4 or 6, version, VRID, 0, the source zero-padded to 16 bytes), the PDU
// with its checksum zero, the trailer's fields and zeros for its MAC.
func appendHMACInput(b []byte, a *Advert, src netip.Addr) []byte {
	src = src.Unmap()
	if src.Is4() {
		ip := src.As4()
		b = append(b, 4, byte(a.Version), a.VRID, 0)
		b = append(append(b, ip[:]...), zeroMAC[:12]...)
	} else {
		ip := src.As16()
		b = append(b, 6, byte(a.Version), a.VRID, 0)
		b = append(b, ip[:]...)
	}
	b = a.appendPDU(b)
	b = a.Trailer.appendHead(b)
	return append(b, zeroMAC[:]...)
}

var zeroMAC [MACLen]byte

// Check implements Auth, in keepalived's order (FORMAT.md §6): a missing
// trailer (refused in enforce mode only), a malformed one, a stale one,
// an unknown key, a wrong HMAC, a replay. Replay marks move only on a
// verified advert.
func (h *HMAC) Check(a *Advert, src netip.Addr) error {
	if a.Version == V2 && a.AuthType != AuthNone {
		// keepalived removes the password of an auth_hmac instance.
		return fmt.Errorf("%w: got %v, want %v", ErrAuthType, a.AuthType, AuthNone)
	}
	if !a.Signed {
		if h.cfg.Mode == HMACEnforce {
			return fmt.Errorf("%w: enforce mode", ErrAuthMissing)
		}
		return nil
	}
	t := &a.Trailer
	if t.Type != ExtHMACSHA256 || t.Reserved != 0 {
		return fmt.Errorf("%w: type %d, reserved %#x", ErrAuthMalformed, t.Type, t.Reserved)
	}
	src = src.Unmap()
	i := slices.IndexFunc(h.st.senders, func(s sender) bool { return s.addr == src })
	if len(h.cfg.Peers) > 0 && i < 0 {
		return fmt.Errorf("%w: %v is not a unicast peer of this instance", ErrSource, src)
	}
	wall, mono := h.clock.Wall(), h.clock.Mono()
	timeMode := h.cfg.AntiReplay == ReplayTime
	skew := secondsApart(uint32(wall.Unix()), t.Seq.Sec())
	window := int64(h.cfg.Window / time.Second)
	// continuous: a sender heard within the window whose sequence grows
	// is judged by its own past, not by our clock.
	continuous := i >= 0 && h.st.senders[i].valid && mono-h.st.senders[i].at <= h.cfg.Window && t.Seq.After(h.st.senders[i].mark)
	fresh := skew >= -window && skew <= window
	if timeMode && !fresh && !continuous {
		return fmt.Errorf("%w: clock %+ds from ours, window %ds", ErrAuthStale, -skew, window)
	}
	mac, ok := h.mac(a, src, t.KeyID)
	if !ok {
		return fmt.Errorf("%w: key id %d", ErrAuthUnknownKey, t.KeyID)
	}
	if subtle.ConstantTimeCompare(mac[:], t.MAC[:]) != 1 {
		return fmt.Errorf("%w: key id %d", ErrAuthHMAC, t.KeyID)
	}
	s := h.slot(i, src)
	if timeMode && fresh && s.valid && absSeconds(secondsApart(uint32(wall.Unix()), s.mark.Sec())) > window {
		s.valid = false // a mark the window has left behind: the sender restarted from its clock
	}
	if s.valid && !t.Seq.After(s.mark) {
		return fmt.Errorf("%w: sequence %#x not after %#x", ErrAuthReplay, uint64(t.Seq), uint64(s.mark))
	}
	s.mark, s.valid, s.at = t.Seq, true, mono
	if timeMode && fresh {
		// A verified peer that agrees with our clock shows whether our own
		// sequence, held after a backward step, should return to the clock.
		if h.st.hasSent && secondsApart(h.st.sent.Sec(), t.Seq.Sec()) > window {
			h.st.hasSent = false
		}
		if h.OnSkew != nil && absSeconds(skew) > window/2 {
			h.OnSkew(src, time.Duration(-skew)*time.Second)
		}
	}
	return nil
}

// slot is src's replay slot: i if found, else a multicast slot, empty
// or the least recently used.
func (h *HMAC) slot(i int, src netip.Addr) *sender {
	st := h.st
	st.lru++
	if i < 0 {
		if len(st.senders) < mcastSenders {
			st.senders = append(st.senders, sender{})
			i = len(st.senders) - 1
		} else {
			i = 0
			for j := range st.senders {
				if st.senders[j].used < st.senders[i].used {
					i = j
				}
			}
		}
		st.senders[i] = sender{addr: src}
	}
	st.senders[i].used = st.lru
	return &st.senders[i]
}

// Senders is how many senders' replay marks h holds.
func (h *HMAC) Senders() int { return len(h.st.senders) }

func absSeconds(s int64) int64 {
	if s < 0 {
		return -s
	}
	return s
}
