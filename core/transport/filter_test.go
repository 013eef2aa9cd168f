package transport

import (
	"testing"

	"golang.org/x/net/bpf"
)

// The receive filter, run in the BPF virtual machine on the bytes a raw
// socket sees.
func TestFilter(t *testing.T) {
	ip4 := func(ttl byte, vrrp ...byte) []byte {
		h := make([]byte, 20)
		h[0], h[8], h[9] = 0x45, ttl, 112
		return append(h, vrrp...)
	}
	ip4opts := func(ttl byte, vrrp ...byte) []byte { // a 24-byte header (IHL 6)
		h := make([]byte, 24)
		h[0], h[8], h[9] = 0x46, ttl, 112
		return append(h, vrrp...)
	}
	advert := func(verType, vrid byte) []byte { return []byte{verType, vrid, 100, 1, 0, 100, 0, 0, 192, 0, 2, 1} }
	cases := []struct {
		name string
		v6   bool
		pkt  []byte
		pass bool
	}{
		{"v3 advert, VRID run here", false, ip4(255, advert(0x31, 7)...), true},
		{"v2 advert, VRID run here", false, ip4(255, advert(0x21, 9)...), true},
		{"IP options before the advert", false, ip4opts(255, advert(0x31, 7)...), true},
		{"TTL 64 (routed, §7.1)", false, ip4(64, advert(0x31, 7)...), false},
		{"VRID not run here", false, ip4(255, advert(0x31, 8)...), false},
		{"version 4", false, ip4(255, advert(0x41, 7)...), false},
		{"type 2", false, ip4(255, advert(0x32, 7)...), false},
		{"IPv6 v3 advert, VRID run here", true, advert(0x31, 9), true},
		{"IPv6 v2 (IPv4 only)", true, advert(0x21, 9), false},
		{"IPv6 VRID not run here", true, advert(0x31, 10), false},
		{"truncated", false, ip4(255), false},
	}
	for _, c := range cases {
		prog, err := filter(c.v6, []uint8{7, 9})
		if err != nil {
			t.Fatal(err)
		}
		var ins []bpf.Instruction
		for _, r := range prog {
			ins = append(ins, r.Disassemble())
		}
		vm, err := bpf.NewVM(ins)
		if err != nil {
			t.Fatal(err)
		}
		n, err := vm.Run(c.pkt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if (n > 0) != c.pass {
			t.Errorf("%s: filter returned %d, want pass=%v", c.name, n, c.pass)
		}
	}
	// No VRID at all: everything is dropped.
	if prog, _ := filter(false, nil); len(prog) == 0 {
		t.Error("empty program")
	}
}
