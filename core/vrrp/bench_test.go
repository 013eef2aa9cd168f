package vrrp_test

import (
	"testing"

	"github.com/vigil-ha/vigil/core/vrrp"
)

// Benchmarks over real keepalived adverts: the seed's shape (v2 PASS, two
// VIPs), the largest capture (twelve VIPs) and v3 over IPv6.
var benchCaptures = []string{"keepalived-v2-pass-ipv4.pcap", "keepalived-v2-unicast-ipv4.pcap", "keepalived-v3-ipv6.pcap"}

func BenchmarkUnmarshal(b *testing.B) {
	for _, name := range benchCaptures {
		f := vrrpFrames(b, name)[0]
		b.Run(name, func(b *testing.B) {
			var a vrrp.Advert
			b.ReportAllocs()
			b.SetBytes(int64(len(f.Payload)))
			for b.Loop() {
				if err := a.Unmarshal(f.Payload, f.Src, f.Dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	for _, name := range benchCaptures {
		f := vrrpFrames(b, name)[0]
		var a vrrp.Advert
		if err := a.Unmarshal(f.Payload, f.Src, f.Dst); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			b.SetBytes(int64(len(f.Payload)))
			for b.Loop() {
				var err error
				if buf, err = a.AppendMarshal(buf[:0], f.Src, f.Dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHMAC is the cost of auth_hmac per advert: signing and encoding
// one to send, decoding and verifying one received (keepalived's capture
// of the seed's shape, VRRPv3 over IPv4 and IPv6).
func BenchmarkHMAC(b *testing.B) {
	for _, name := range []string{"v3_ipv4.pcap", "v3_ipv6.pcap"} {
		f := hmacFrames(b, name)[0]
		var a vrrp.Advert
		if err := a.Unmarshal(f.Payload, f.Src, f.Dst); err != nil {
			b.Fatal(err)
		}
		b.Run("sign/"+name, func(b *testing.B) {
			clk := &fixedClock{wall: f.Time}
			h := newHMAC(b, clk, map[uint8][]byte{1: hmacKey1}, 1, vrrp.HMACEnforce)
			out := a
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Sign(&out, f.Src); err != nil {
					b.Fatal(err)
				}
				var err error
				if buf, err = out.AppendMarshal(buf[:0], f.Src, f.Dst); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("verify/"+name, func(b *testing.B) {
			// Adverts signed in turn, verified in turn: each accepted.
			clk := &fixedClock{wall: f.Time}
			signer := newHMAC(b, clk, map[uint8][]byte{1: hmacKey1}, 1, vrrp.HMACEnforce)
			msgs := make([][]byte, 4096)
			for i := range msgs {
				out := a
				_ = signer.Sign(&out, f.Src)
				msgs[i], _ = out.Marshal(f.Src, f.Dst)
			}
			var h *vrrp.HMAC
			var rx vrrp.Advert
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i%len(msgs) == 0 {
					h = newHMAC(b, clk, map[uint8][]byte{1: hmacKey1}, 1, vrrp.HMACEnforce)
				}
				if err := rx.Unmarshal(msgs[i%len(msgs)], f.Src, f.Dst); err != nil {
					b.Fatal(err)
				}
				if err := h.Check(&rx, f.Src); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
