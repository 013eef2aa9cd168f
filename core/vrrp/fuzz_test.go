package vrrp_test

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/vrrp"
)

// FuzzUnmarshal feeds arbitrary bytes to the decoder: it must never panic,
// and whatever it accepts must re-encode to the same bytes.
func FuzzUnmarshal(f *testing.F) {
	pcaps, _ := filepath.Glob("testdata/*.pcap")
	for _, p := range pcaps {
		if strings.Contains(p, "garp") {
			continue
		}
		for _, fr := range vrrpFrames(f, filepath.Base(p)) {
			f.Add(fr.Payload, fr.Src.Is6())
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		src, dst := src4, dst4
		if v6 {
			src, dst = src6, dst6
		}
		var a vrrp.Advert
		if err := a.Unmarshal(b, src, dst); err != nil {
			if vrrp.Reason(err) == "other" {
				t.Fatalf("error without a reason label: %v", err)
			}
			return
		}
		out, err := a.Marshal(src, dst)
		if err != nil {
			// The only decodable but unsendable field is a zero interval.
			if a.Interval == 0 {
				return
			}
			t.Fatalf("accepted %x but cannot re-encode: %v", b, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded\n%x\nfrom\n%x", out, b)
		}
	})
}

// FuzzRoundTrip builds adverts from arbitrary field values: every advert
// Marshal accepts must decode back to the same fields.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(2), uint8(21), uint8(100), uint16(1), uint8(1), "1322", []byte{192, 0, 2, 24}, false)
	f.Add(uint8(3), uint8(33), uint8(200), uint16(50), uint8(0), "", []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x33}, true)
	f.Add(uint8(3), uint8(7), uint8(0), uint16(1), uint8(0), "", []byte{192, 0, 2, 107, 192, 0, 2, 108}, false)
	f.Fuzz(func(t *testing.T, ver, vrid, prio uint8, units uint16, auth uint8, pass string, raw []byte, v6 bool) {
		a := vrrp.Advert{Version: vrrp.Version(ver), VRID: vrid, Priority: prio}
		src, dst, alen := src4, dst4, 4
		if v6 {
			src, dst, alen = src6, dst6, 16
		}
		for i := 0; i+alen <= len(raw); i += alen {
			ip, _ := netip.AddrFromSlice(raw[i : i+alen])
			a.Addrs = append(a.Addrs, ip)
		}
		if a.Version == vrrp.V2 {
			a.Interval = time.Duration(units%256) * time.Second
			a.AuthType = vrrp.AuthType(auth)
			a.SetPassword(pass)
		} else {
			a.Interval = time.Duration(units&0x0fff) * 10 * time.Millisecond
		}
		b, err := a.Marshal(src, dst)
		if err != nil {
			return
		}
		var back vrrp.Advert
		if err := back.Unmarshal(b, src, dst); err != nil {
			t.Fatalf("decode of our own %x: %v", b, err)
		}
		if back.Version != a.Version || back.VRID != a.VRID || back.Priority != a.Priority ||
			back.Interval != a.Interval || back.AuthType != a.AuthType || back.Password != a.Password ||
			len(back.Addrs) != len(a.Addrs) {
			t.Fatalf("round trip changed fields:\n%+v\n%+v", a, back)
		}
		for i := range a.Addrs {
			if back.Addrs[i] != a.Addrs[i] {
				t.Fatalf("address %d: %v became %v", i, a.Addrs[i], back.Addrs[i])
			}
		}
	})
}

// FuzzHMACTrailer feeds arbitrary trailers (and PDUs) to an instance with
// keys: it must never panic, never accept a MAC it did not compute, and
// hold at most 4 senders' marks.
func FuzzHMACTrailer(f *testing.F) {
	for _, name := range []string{"v3_ipv4.pcap", "v3_ipv6.pcap", "v2_ipv4.pcap", "rotation.pcap"} {
		for _, fr := range hmacFrames(f, name) {
			f.Add(fr.Payload, fr.Src.Is6(), fr.Time.UnixNano())
		}
	}
	keys := map[uint8][]byte{1: hmacKey1, 2: hmacKey2}
	f.Fuzz(func(t *testing.T, b []byte, v6 bool, now int64) {
		src, dst := netip.MustParseAddr("192.0.2.61"), vrrp.GroupV4
		if v6 {
			src, dst = netip.MustParseAddr("fe80::ff:fe00:61"), vrrp.GroupV6
		}
		var a vrrp.Advert
		if err := a.Unmarshal(b, src, dst); err != nil {
			return
		}
		clk := &fixedClock{wall: time.Unix(0, now)}
		h, err := vrrp.NewHMAC(vrrp.HMACConfig{Keys: keys, ActiveKey: 1, Window: 5 * time.Second}, clk.clock())
		if err != nil {
			t.Fatal(err)
		}
		err = h.Check(&a, src)
		if err != nil && vrrp.Reason(err) == "other" {
			t.Fatalf("error without a reason label: %v", err)
		}
		if err == nil {
			// Accepted: it must carry exactly the MAC Vigil computes.
			if !a.Signed || vrrp.MACOf(keys[a.Trailer.KeyID], &a, src) != a.Trailer.MAC {
				t.Fatalf("accepted a MAC it did not compute: %x", b)
			}
		}
		if h.Senders() > 4 {
			t.Fatal("replay state grew past 4")
		}
	})
}
