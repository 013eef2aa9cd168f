package transport

import (
	"golang.org/x/net/bpf"

	"github.com/vigil-ha/vigil/core/vrrp"
)

// The receive socket carries a classic BPF filter so that what the node
// cannot use never reaches user space, however much of it the segment
// sends: IPv4 packets whose TTL is not 255 (RFC 5798 §7.1), messages that
// are not VRRP adverts of version 2 or 3 (version 3 alone over IPv6), and
// adverts for VRIDs no instance on this socket runs. The filter is rebuilt
// whenever an instance registers or leaves. What passes it is checked in
// full by core/vrrp and counted by reason.

// filter builds the program for vrids. IPv4 raw sockets see the IP header
// (TTL at byte 8, its length in the low nibble of byte 0); IPv6 ones see
// only the VRRP message, and the hop limit is checked in user space.
func filter(v6 bool, vrids []uint8) ([]bpf.RawInstruction, error) {
	var prog []bpf.Instruction
	accept, drop := bpf.RetConstant{Val: 0xffff}, bpf.RetConstant{Val: 0}
	// The VRRP message starts at X.
	if v6 {
		prog = append(prog, bpf.LoadConstant{Dst: bpf.RegX, Val: 0})
	} else {
		prog = append(prog,
			bpf.LoadAbsolute{Off: 8, Size: 1}, // TTL
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: vrrp.TTL, SkipTrue: 1},
			drop,
			bpf.LoadMemShift{Off: 0}, // X = IP header length
		)
	}
	// Version and type: 0x31 (v3 advert), or 0x21 (v2) over IPv4.
	prog = append(prog, bpf.LoadIndirect{Off: 0, Size: 1})
	if v6 {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x31, SkipTrue: 1}, drop)
	} else {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x31, SkipTrue: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x21, SkipTrue: 1},
			drop)
	}
	// VRID: one comparison per VRID run here, each jumping to accept.
	prog = append(prog, bpf.LoadIndirect{Off: 1, Size: 1})
	for i, id := range vrids {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(id), SkipTrue: uint8(len(vrids) - i)})
	}
	prog = append(prog, drop, accept)
	return bpf.Assemble(prog)
}
