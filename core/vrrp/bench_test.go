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
