package capture

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

func header(order binary.ByteOrder, magic, link uint32) []byte {
	b := make([]byte, 24)
	order.PutUint32(b, magic)
	order.PutUint32(b[20:], link)
	return b
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than its file header"},
		{"bad magic", header(binary.LittleEndian, 0x12345678, 1), "unknown magic"},
		{"not ethernet", header(binary.LittleEndian, magicMicro, 113), "link type 113"},
		{"cut record header", append(header(binary.LittleEndian, magicMicro, 1), 1, 2, 3), "truncated record header"},
		{"cut record", append(header(binary.BigEndian, magicNano, 1), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 60, 1), "truncated record at"},
	}
	for _, c := range cases {
		if _, err := Parse(c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestReadCaptures(t *testing.T) {
	frames, err := ReadFile("../testdata/keepalived-v2-pass-ipv4.pcap")
	if err != nil {
		t.Fatal(err)
	}
	f := frames[0]
	if !f.IP || f.Src != netip.MustParseAddr("192.0.2.21") || f.Dst != netip.MustParseAddr("224.0.0.18") ||
		f.TTL != 255 || f.TOS != 0xc0 || f.ID != 1 || f.Proto != 112 || len(f.Payload) != 24 {
		t.Errorf("first frame decoded as %+v", f)
	}
	frames, err = ReadFile("../testdata/keepalived-v3-ipv6.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if f := frames[0]; !f.IP || !f.Src.IsLinkLocalUnicast() || f.Dst != netip.MustParseAddr("ff02::12") || f.TTL != 255 || f.TOS != 0xc0 {
		t.Errorf("IPv6 frame decoded as %+v", f)
	}
	frames, err = ReadFile("../testdata/keepalived-garp-ipv4.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if f := frames[0]; f.IP || f.EtherType != 0x0806 || f.DstMAC != [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} {
		t.Errorf("ARP frame decoded as %+v", f)
	}
}
