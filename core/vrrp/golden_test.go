package vrrp_test

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/core/vrrp"
	"github.com/vigil-ha/vigil/core/vrrp/capture"
)

var update = flag.Bool("update", false, "rewrite the golden summaries in testdata/")

// vrrpFrames returns the VRRP packets of a keepalived capture in testdata.
func vrrpFrames(t testing.TB, name string) []capture.Frame {
	t.Helper()
	frames, err := capture.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []capture.Frame
	for _, f := range frames {
		if f.IP && f.Proto == vrrp.IPProto {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no VRRP packets", name)
	}
	return out
}

// TestGolden decodes every advert keepalived sent, checks its IP header
// against what keepalived does (TTL 255, TOS 0xc0), re-encodes it byte for
// byte, and compares a readable summary with testdata/NAME.golden.
func TestGolden(t *testing.T) {
	pcaps, _ := filepath.Glob("testdata/*.pcap")
	if len(pcaps) != 7 {
		t.Fatalf("want the 7 keepalived captures in testdata, found %d", len(pcaps))
	}
	for _, path := range pcaps {
		name := filepath.Base(path)
		if name == "keepalived-garp-ipv4.pcap" {
			continue // ARP only: the golden data of core/vip
		}
		t.Run(name, func(t *testing.T) {
			var sum strings.Builder
			frames, err := capture.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for i, f := range frames {
				if !f.IP || f.Proto != vrrp.IPProto {
					continue
				}
				n++
				if f.TTL != vrrp.TTL || f.TOS != vrrp.TOS {
					t.Errorf("frame %d: TTL %d TOS %#x, keepalived sends 255 and 0xc0", i, f.TTL, f.TOS)
				}
				var a vrrp.Advert
				if err := a.Unmarshal(f.Payload, f.Src, f.Dst); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				out, err := a.Marshal(f.Src, f.Dst)
				if err != nil {
					t.Fatalf("frame %d: marshal: %v", i, err)
				}
				if !bytes.Equal(out, f.Payload) {
					t.Fatalf("frame %d: re-encoded\n%x\nkeepalived sent\n%x", i, out, f.Payload)
				}
				fmt.Fprintf(&sum, "%s > %s v%d vrid %d prio %d int %v auth %v %q addrs %v\n",
					f.Src, f.Dst, a.Version, a.VRID, a.Priority, a.Interval, a.AuthType, a.PasswordString(), a.Addrs)
			}
			if n == 0 {
				t.Fatal("no VRRP packets in capture")
			}
			compareGolden(t, strings.TrimSuffix(path, ".pcap")+".golden", sum.String())
		})
	}
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("summary differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestGoldenShutdown checks the last advert of each capture is keepalived's
// priority-0 resignation (RFC 5798 §6.4.3 Shutdown).
func TestGoldenShutdown(t *testing.T) {
	for _, name := range []string{"keepalived-v2-pass-ipv4.pcap", "keepalived-v3-ipv4.pcap", "keepalived-v3-ipv6.pcap", "keepalived-v2-unicast-ipv4.pcap", "keepalived-v3-ipv4-10ms.pcap", "keepalived-v3-ipv6-na.pcap"} {
		frames := vrrpFrames(t, name)
		last := frames[len(frames)-1]
		var a vrrp.Advert
		if err := a.Unmarshal(last.Payload, last.Src, last.Dst); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.Priority != 0 {
			t.Errorf("%s: last advert has priority %d, want 0", name, a.Priority)
		}
		if prev := frames[len(frames)-2]; prev.Payload[2] == 0 {
			t.Errorf("%s: more than one priority-0 advert", name)
		}
	}
}

// TestBuildMatchesKeepalived builds adverts from configuration alone (as the
// engine will) and expects the bytes keepalived put on the wire.
func TestBuildMatchesKeepalived(t *testing.T) {
	ip := netip.MustParseAddr
	cases := []struct {
		pcap string
		adv  vrrp.Advert
		pass string
	}{
		{"keepalived-v2-pass-ipv4.pcap", vrrp.Advert{Version: vrrp.V2, VRID: 21, Priority: 100, Interval: 1e9, AuthType: vrrp.AuthPass,
			Addrs: []netip.Addr{ip("192.0.2.24"), ip("192.0.2.124")}}, "1322"},
		{"keepalived-v3-ipv4.pcap", vrrp.Advert{Version: vrrp.V3, VRID: 21, Priority: 100, Interval: 1e9,
			Addrs: []netip.Addr{ip("192.0.2.24"), ip("192.0.2.124")}}, ""},
		{"keepalived-v3-ipv6.pcap", vrrp.Advert{Version: vrrp.V3, VRID: 21, Priority: 100, Interval: 1e9,
			Addrs: []netip.Addr{ip("2001:db8::100")}}, ""},
		{"keepalived-v3-ipv4-10ms.pcap", vrrp.Advert{Version: vrrp.V3, VRID: 7, Priority: 254, Interval: 1e7,
			Addrs: []netip.Addr{ip("192.0.2.107"), ip("192.0.2.108")}}, ""},
		{"keepalived-v2-unicast-ipv4.pcap", vrrp.Advert{Version: vrrp.V2, VRID: 51, Priority: 150, Interval: 2e9, AuthType: vrrp.AuthPass,
			Addrs: []netip.Addr{ip("192.0.2.151"), ip("192.0.2.152"), ip("192.0.2.153"), ip("192.0.2.154"), ip("192.0.2.155"), ip("192.0.2.156"),
				ip("192.0.2.157"), ip("192.0.2.158"), ip("192.0.2.159"), ip("192.0.2.160"), ip("192.0.2.161"), ip("192.0.2.162")}}, "12345678"},
	}
	for _, c := range cases {
		f := vrrpFrames(t, c.pcap)[0]
		c.adv.SetPassword(c.pass)
		got, err := c.adv.Marshal(f.Src, f.Dst)
		if err != nil {
			t.Fatalf("%s: %v", c.pcap, err)
		}
		if !bytes.Equal(got, f.Payload) {
			t.Errorf("%s:\nbuilt     %x\nkeepalived %x", c.pcap, got, f.Payload)
		}
	}
}
