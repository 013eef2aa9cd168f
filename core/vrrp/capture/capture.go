// Package capture reads classic pcap files of Ethernet frames and picks out
// the IP packets in them, so that tests can compare Vigil's packets with
// keepalived's captured ones. It is a reader for fixtures, not a sniffer.
package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// Frame is one captured Ethernet frame and, when it carries IPv4 or IPv6
// without extension headers, its IP header fields and payload.
type Frame struct {
	Time      time.Time
	Data      []byte // the whole frame
	EtherType uint16
	SrcMAC    [6]byte
	DstMAC    [6]byte

	IP      bool // the fields below are set
	Src     netip.Addr
	Dst     netip.Addr
	TOS     uint8 // IPv4 TOS or IPv6 traffic class
	TTL     uint8 // IPv4 TTL or IPv6 hop limit
	ID      uint16
	Proto   uint8 // IPv4 protocol or IPv6 next header
	Payload []byte
}

const (
	magicMicro = 0xa1b2c3d4
	magicNano  = 0xa1b23c4d
	linkEther  = 1
)

// ReadFile reads every frame of the pcap file at path.
func ReadFile(path string) ([]Frame, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	frames, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return frames, nil
}

// Parse reads a classic pcap file (either byte order, µs or ns stamps).
func Parse(b []byte) ([]Frame, error) {
	if len(b) < 24 {
		return nil, errors.New("pcap: shorter than its file header")
	}
	var order binary.ByteOrder = binary.LittleEndian
	magic := order.Uint32(b)
	if magic != magicMicro && magic != magicNano {
		order = binary.BigEndian
		magic = order.Uint32(b)
	}
	if magic != magicMicro && magic != magicNano {
		return nil, fmt.Errorf("pcap: unknown magic %#x", magic)
	}
	if lt := order.Uint32(b[20:]); lt != linkEther {
		return nil, fmt.Errorf("pcap: link type %d, only Ethernet (1) is read", lt)
	}
	var frames []Frame
	for off := 24; off < len(b); {
		if len(b)-off < 16 {
			return nil, fmt.Errorf("pcap: truncated record header at byte %d", off)
		}
		sec, frac := order.Uint32(b[off:]), order.Uint32(b[off+4:])
		n := int(order.Uint32(b[off+8:]))
		off += 16
		if len(b)-off < n {
			return nil, fmt.Errorf("pcap: truncated record at byte %d", off)
		}
		ns := int64(frac)
		if magic == magicMicro {
			ns *= 1000
		}
		f := Frame{Time: time.Unix(int64(sec), ns).UTC(), Data: b[off : off+n]}
		f.decode()
		frames = append(frames, f)
		off += n
	}
	return frames, nil
}

func (f *Frame) decode() {
	d := f.Data
	if len(d) < 14 {
		return
	}
	copy(f.DstMAC[:], d[0:6])
	copy(f.SrcMAC[:], d[6:12])
	f.EtherType = binary.BigEndian.Uint16(d[12:])
	p := d[14:]
	switch f.EtherType {
	case 0x0800:
		if len(p) < 20 || p[0]>>4 != 4 {
			return
		}
		ihl := int(p[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(p[2:]))
		if ihl < 20 || total < ihl || total > len(p) {
			return
		}
		f.TOS, f.ID, f.TTL, f.Proto = p[1], binary.BigEndian.Uint16(p[4:]), p[8], p[9]
		f.Src = netip.AddrFrom4([4]byte(p[12:16]))
		f.Dst = netip.AddrFrom4([4]byte(p[16:20]))
		f.Payload, f.IP = p[ihl:total], true
	case 0x86dd:
		if len(p) < 40 || p[0]>>4 != 6 {
			return
		}
		plen := int(binary.BigEndian.Uint16(p[4:]))
		if 40+plen > len(p) {
			return
		}
		f.TOS = uint8(binary.BigEndian.Uint16(p[0:]) >> 4)
		f.Proto, f.TTL = p[6], p[7]
		f.Src = netip.AddrFrom16([16]byte(p[8:24]))
		f.Dst = netip.AddrFrom16([16]byte(p[24:40]))
		f.Payload, f.IP = p[40:40+plen], true
	}
}
