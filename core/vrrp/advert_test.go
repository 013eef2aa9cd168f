package vrrp_test

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/vrrp"
)

var (
	src4 = netip.MustParseAddr("192.0.2.21")
	dst4 = vrrp.GroupV4
	src6 = netip.MustParseAddr("fe80::1")
	dst6 = vrrp.GroupV6
)

func v2Advert() vrrp.Advert {
	a := vrrp.Advert{Version: vrrp.V2, VRID: 21, Priority: 100, Interval: time.Second, AuthType: vrrp.AuthPass,
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.24")}}
	a.SetPassword("1322")
	return a
}

func mustMarshal(t *testing.T, a vrrp.Advert, src, dst netip.Addr) []byte {
	t.Helper()
	b, err := a.Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnmarshalErrors: each rule of RFC 5798 §7.1 / RFC 3768 §7.1 that the
// message alone can break yields its own error.
func TestUnmarshalErrors(t *testing.T) {
	good := mustMarshal(t, v2Advert(), src4, dst4)
	v3 := v2Advert()
	v3.Version, v3.AuthType, v3.Password = vrrp.V3, vrrp.AuthNone, [8]byte{}
	good3 := mustMarshal(t, v3, src4, dst4)
	mut := func(b []byte, f func([]byte) []byte) []byte {
		return f(append([]byte(nil), b...))
	}
	cases := []struct {
		name     string
		b        []byte
		src, dst netip.Addr
		want     error
	}{
		{"empty (§7.1 length)", nil, src4, dst4, vrrp.ErrShort},
		{"header cut (§7.1 length)", good[:7], src4, dst4, vrrp.ErrShort},
		{"auth data cut (RFC 3768 §5.1)", good[:len(good)-1], src4, dst4, vrrp.ErrShort},
		{"version 1 (§7.1 version)", mut(good, func(b []byte) []byte { b[0] = 0x11; return b }), src4, dst4, vrrp.ErrVersion},
		{"version 4 (§7.1 version)", mut(good, func(b []byte) []byte { b[0] = 0x41; return b }), src4, dst4, vrrp.ErrVersion},
		{"v2 over IPv6 (RFC 3768 is IPv4 only)", good, src6, dst6, vrrp.ErrVersion},
		{"type 2 (§5.2.2 type)", mut(good, func(b []byte) []byte { b[0] = 0x22; return b }), src4, dst4, vrrp.ErrType},
		{"count larger than packet (§7.1 count)", mut(good, func(b []byte) []byte { b[3] = 2; return b }), src4, dst4, vrrp.ErrShort},
		{"v3 count 0 (§5.2.5: at least one address; keepalived v3 refuses such an instance)", mut(good3[:8], func(b []byte) []byte { b[3] = 0; return b }), src4, dst4, vrrp.ErrAddrCount},
		{"trailing bytes (§7.1 count)", append(append([]byte(nil), good...), 0, 0, 0, 0), src4, dst4, vrrp.ErrAddrCount},
		{"v2 checksum (§7.1 checksum)", mut(good, func(b []byte) []byte { b[7] ^= 1; return b }), src4, dst4, vrrp.ErrChecksum},
		{"v2 password changes checksum", mut(good, func(b []byte) []byte { b[len(b)-1] = 'x'; return b }), src4, dst4, vrrp.ErrChecksum},
		{"v3 pseudo-header source (§5.2.8)", good3, netip.MustParseAddr("192.0.2.22"), dst4, vrrp.ErrChecksum},
		{"v3 pseudo-header destination (§5.2.8)", good3, src4, netip.MustParseAddr("192.0.2.22"), vrrp.ErrChecksum},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a vrrp.Advert
			err := a.Unmarshal(c.b, c.src, c.dst)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if vrrp.Reason(err) == "other" {
				t.Errorf("Reason(%v) has no label", err)
			}
		})
	}
}

func TestMarshalRefuses(t *testing.T) {
	ip6 := netip.MustParseAddr("2001:db8::1")
	cases := []struct {
		name string
		edit func(*vrrp.Advert)
		want error
	}{
		{"v2 sub-second interval", func(a *vrrp.Advert) { a.Interval = 500 * time.Millisecond }, vrrp.ErrInterval},
		{"v2 interval over 255s", func(a *vrrp.Advert) { a.Interval = 256 * time.Second }, vrrp.ErrInterval},
		{"v3 interval not in centiseconds", func(a *vrrp.Advert) { a.Version = vrrp.V3; a.Interval = 15 * time.Millisecond }, vrrp.ErrInterval},
		{"v3 interval over 40.95s", func(a *vrrp.Advert) { a.Version = vrrp.V3; a.Interval = 41 * time.Second }, vrrp.ErrInterval},
		{"zero interval", func(a *vrrp.Advert) { a.Interval = 0 }, vrrp.ErrInterval},
		{"version 4", func(a *vrrp.Advert) { a.Version = 4 }, vrrp.ErrVersion},
		{"v2 with IPv6", func(a *vrrp.Advert) { a.Addrs = []netip.Addr{ip6} }, vrrp.ErrVersion},
		{"mixed families", func(a *vrrp.Advert) { a.Version = vrrp.V3; a.Addrs = append(a.Addrs, ip6) }, vrrp.ErrAddrFamily},
		{"256 addresses", func(a *vrrp.Advert) { a.Addrs = make([]netip.Addr, 256) }, vrrp.ErrAddrCount},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := v2Advert()
			c.edit(&a)
			if _, err := a.Marshal(src4, dst4); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestIntervalEncoding: v2 carries whole seconds in 8 bits (RFC 3768 §5.3.7),
// v3 12 bits of centiseconds (RFC 5798 §5.2.7).
func TestIntervalEncoding(t *testing.T) {
	cases := []struct {
		ver      vrrp.Version
		interval time.Duration
		b4, b5   byte
	}{
		{vrrp.V2, time.Second, 1, 1},
		{vrrp.V2, 255 * time.Second, 1, 255},
		{vrrp.V3, 10 * time.Millisecond, 0, 1},
		{vrrp.V3, time.Second, 0, 100},
		{vrrp.V3, 40950 * time.Millisecond, 0x0f, 0xff},
	}
	for _, c := range cases {
		a := v2Advert()
		a.Version, a.Interval = c.ver, c.interval
		if c.ver == vrrp.V3 {
			a.AuthType, a.Password = vrrp.AuthNone, [8]byte{}
		}
		b := mustMarshal(t, a, src4, dst4)
		if b[4] != c.b4 || b[5] != c.b5 {
			t.Errorf("v%d %v: bytes 4-5 = %#x %#x, want %#x %#x", c.ver, c.interval, b[4], b[5], c.b4, c.b5)
		}
		var back vrrp.Advert
		if err := back.Unmarshal(b, src4, dst4); err != nil || back.Interval != c.interval {
			t.Errorf("v%d %v: decoded %v, %v", c.ver, c.interval, back.Interval, err)
		}
	}
}

// TestV3ReservedBitsIgnored: RFC 5798 §5.2.6 says receivers ignore rsvd.
func TestV3ReservedBitsIgnored(t *testing.T) {
	a := vrrp.Advert{Version: vrrp.V3, VRID: 1, Priority: 1, Interval: time.Second, Reserved: 0xf,
		Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}
	b := mustMarshal(t, a, src6, dst6)
	var back vrrp.Advert
	if err := back.Unmarshal(b, src6, dst6); err != nil {
		t.Fatal(err)
	}
	if back.Interval != time.Second {
		t.Errorf("interval %v: reserved bits leaked into it", back.Interval)
	}
}

// The auth seam: each kind fills in what it sends and refuses what it
// does not (RFC 3768 §7.1: the auth type must match, then the data).
func TestAuth(t *testing.T) {
	pass := vrrp.NewPassword("1322")
	cases := []struct {
		name string
		auth vrrp.Auth
		sent vrrp.Auth // what the sender authenticated with
		v    vrrp.Version
		want error
	}{
		{"none to none", vrrp.NoAuth{}, vrrp.NoAuth{}, vrrp.V2, nil},
		{"PASS to none", vrrp.NoAuth{}, pass, vrrp.V2, vrrp.ErrAuthType},
		{"none to PASS", pass, vrrp.NoAuth{}, vrrp.V2, vrrp.ErrAuthType},
		{"PASS to PASS", pass, pass, vrrp.V2, nil},
		{"wrong password", pass, vrrp.NewPassword("1323"), vrrp.V2, vrrp.ErrAuth},
		{"long password cut at 8 bytes, as keepalived does", vrrp.NewPassword("12345678"), vrrp.NewPassword("123456789"), vrrp.V2, nil},
		{"v3 has no auth field", vrrp.NoAuth{}, vrrp.NoAuth{}, vrrp.V3, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := vrrp.Advert{Version: c.v, VRID: 1, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}
			if err := c.sent.Sign(&a, src4); err != nil {
				t.Fatal(err)
			}
			msg, err := a.Marshal(src4, vrrp.GroupV4)
			if err != nil {
				t.Fatal(err)
			}
			var got vrrp.Advert
			if err := got.Unmarshal(msg, src4, vrrp.GroupV4); err != nil {
				t.Fatal(err)
			}
			exp := vrrp.Expect{Version: c.v, Auth: c.auth, Interval: time.Second}
			if err := vrrp.Verify(&got, src4, 255, &exp); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	base := v2Advert()
	want := vrrp.Expect{Version: vrrp.V2, Auth: vrrp.Password(base.Password), Interval: time.Second,
		Addrs: base.Addrs, CheckAddrs: true}
	other := [8]byte{'w', 'r', 'o', 'n', 'g'}
	cases := []struct {
		name string
		ttl  int
		edit func(*vrrp.Advert)
		want error
	}{
		{"accepted", 255, func(*vrrp.Advert) {}, nil},
		{"TTL 254 (§7.1: MUST be 255)", 254, func(*vrrp.Advert) {}, vrrp.ErrTTL},
		{"TTL 1 from a routed packet", 1, func(*vrrp.Advert) {}, vrrp.ErrTTL},
		{"v3 advert to v2 instance", 255, func(a *vrrp.Advert) { a.Version = vrrp.V3 }, vrrp.ErrVersion},
		{"no auth to PASS instance (RFC 3768 §7.1)", 255, func(a *vrrp.Advert) { a.AuthType = vrrp.AuthNone }, vrrp.ErrAuthType},
		{"AH to PASS instance", 255, func(a *vrrp.Advert) { a.AuthType = vrrp.AuthAH }, vrrp.ErrAuthType},
		{"wrong password", 255, func(a *vrrp.Advert) { a.Password = other }, vrrp.ErrAuth},
		{"v2 interval mismatch (RFC 3768 §7.1)", 255, func(a *vrrp.Advert) { a.Interval = 2 * time.Second }, vrrp.ErrInterval},
		{"address list differs (§7.1)", 255, func(a *vrrp.Advert) { a.Addrs = []netip.Addr{netip.MustParseAddr("192.0.2.99")} }, vrrp.ErrAddrList},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := base
			c.edit(&a)
			if err := vrrp.Verify(&a, src4, c.ttl, &want); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// v3 learns the master's interval rather than rejecting it (RFC 5798 §6.4.2).
	a := base
	a.Version, a.Interval = vrrp.V3, 3*time.Second
	w3 := want
	w3.Version, w3.Auth = vrrp.V3, vrrp.NoAuth{}
	if err := vrrp.Verify(&a, src4, 255, &w3); err != nil {
		t.Errorf("v3 with another interval: %v", err)
	}
	// Sources: a unicast instance hears only its peers; an IPv6 advert
	// without peers must come from a link-local address (RFC 5798 §5.1.2.1).
	peer, other4 := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.66")
	uni := w3
	uni.Peers = []netip.Addr{peer}
	for _, c := range []struct {
		src  netip.Addr
		exp  *vrrp.Expect
		want error
	}{
		{peer, &uni, nil},
		{netip.AddrFrom16(peer.As16()), &uni, nil}, // v4-mapped, as a dual-stack socket may say
		{other4, &uni, vrrp.ErrSource},
		{other4, &w3, nil}, // multicast IPv4: any on-link source
		{netip.MustParseAddr("fe80::1"), &w3, nil},
		{netip.MustParseAddr("2001:db8::1"), &w3, vrrp.ErrSource},
	} {
		if err := vrrp.Verify(&a, c.src, 255, c.exp); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("from %v (peers %v): got %v, want %v", c.src, c.exp.Peers, err, c.want)
		}
	}
	if vrrp.Reason(vrrp.Verify(&a, other4, 255, &uni)) != "source" {
		t.Error("a refused source is not counted as \"source\"")
	}
	// TTL: a unicast instance takes its peers' range (keepalived's
	// min_ttl / max_ttl), multicast always 255.
	routed := uni
	routed.PeerTTL = vrrp.TTLRange{Min: 250, Max: 254}
	mc := w3
	mc.PeerTTL = routed.PeerTTL // ignored without peers
	for _, c := range []struct {
		exp  *vrrp.Expect
		ttl  int
		want error
	}{
		{&uni, 255, nil}, {&uni, 254, vrrp.ErrTTL},
		{&routed, 250, nil}, {&routed, 254, nil}, {&routed, 249, vrrp.ErrTTL}, {&routed, 255, vrrp.ErrTTL},
		{&mc, 255, nil}, {&mc, 252, vrrp.ErrTTL},
	} {
		if err := vrrp.Verify(&a, peer, c.ttl, c.exp); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("TTL %d (peers %v, range %v): got %v, want %v", c.ttl, c.exp.Peers, c.exp.PeerTTL, err, c.want)
		}
	}
}

func TestPassword(t *testing.T) {
	var a vrrp.Advert
	a.SetPassword("123456789")
	if got := a.PasswordString(); got != "12345678" {
		t.Errorf("9-byte password kept as %q, keepalived keeps the first 8", got)
	}
	a.SetPassword("ab")
	if a.Password != [8]byte{'a', 'b'} {
		t.Errorf("short password not zero padded: %v", a.Password)
	}
}

func TestRoundTripIPv6(t *testing.T) {
	a := vrrp.Advert{Version: vrrp.V3, VRID: 33, Priority: 200, Interval: 500 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::133"), netip.MustParseAddr("2001:db8:0:1::134")}}
	b := mustMarshal(t, a, src6, dst6)
	var back vrrp.Advert
	if err := back.Unmarshal(b, src6, dst6); err != nil {
		t.Fatal(err)
	}
	back.Checksum = 0
	if !reflect.DeepEqual(a, back) {
		t.Errorf("round trip:\n%+v\n%+v", a, back)
	}
}

// TestKeepalivedV2WithoutVIP: keepalived 2.2.7 runs a VRRPv2 instance with
// no virtual_ipaddress (it logs "No VIP specified; at least one is
// sensible") and advertises it with an address count of 0: the 8-byte
// header and 8 bytes of auth data, as captured from it (VRID 51, priority
// 100, no auth, 1 s). Vigil decodes it, verifies it, and sends the same
// bytes for the same instance; its VRRPv3 refuses a count of 0 in both
// directions, as keepalived's v3 refuses the instance ("at least one is
// required").
func TestKeepalivedV2WithoutVIP(t *testing.T) {
	captured := []byte{0x21, 0x33, 0x64, 0x00, 0x00, 0x01, 0x7a, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0}
	src := netip.MustParseAddr("192.0.2.5")
	var a vrrp.Advert
	if err := a.Unmarshal(captured, src, vrrp.GroupV4); err != nil {
		t.Fatalf("keepalived's advert without VIP: %v", err)
	}
	if a.VRID != 51 || a.Priority != 100 || len(a.Addrs) != 0 || a.Interval != time.Second {
		t.Errorf("decoded %+v", a)
	}
	if err := vrrp.Verify(&a, src, 255, &vrrp.Expect{Version: vrrp.V2, Interval: time.Second}); err != nil {
		t.Errorf("verify: %v", err)
	}
	out, err := (&vrrp.Advert{Version: vrrp.V2, VRID: 51, Priority: 100, Interval: time.Second}).Marshal(src, vrrp.GroupV4)
	if err != nil || !bytes.Equal(out, captured) {
		t.Errorf("Vigil's advert without VIP: %x %v, want keepalived's %x", out, err, captured)
	}
	if _, err := (&vrrp.Advert{Version: vrrp.V3, VRID: 51, Priority: 100, Interval: time.Second}).Marshal(src, vrrp.GroupV4); !errors.Is(err, vrrp.ErrAddrCount) {
		t.Errorf("a v3 advert without address was encoded: %v", err)
	}
}
