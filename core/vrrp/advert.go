// Package vrrp is the VRRP advertisement wire format: version 2 (RFC 3768) and
// version 3 (RFC 5798) over IPv4 and IPv6. It does no I/O; callers hand it the
// VRRP message with the IP header already stripped.
package vrrp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Protocol constants shared by both versions.
const (
	// IPProto is the IP protocol number (IPv4) and next header (IPv6) of VRRP.
	IPProto = 112
	// TTL is the only IPv4 TTL / IPv6 hop limit a VRRP router may send or accept.
	TTL = 255
	// TOS is the IPv4 type of service / IPv6 traffic class keepalived sends
	// (precedence "internetwork control"); captures in testdata show it.
	TOS = 0xc0

	typeAdvert    = 1
	headerLen     = 8
	authDataLen   = 8 // v2 only: always present, zeroed when unused
	maxV3Interval = 0x0fff
	centisecond   = 10 * time.Millisecond
	maxV2Interval = 255
)

// MaxAddrs is how many addresses one advert can carry (an 8-bit count).
const MaxAddrs = 255

// Multicast groups adverts are sent to.
var (
	GroupV4 = netip.MustParseAddr("224.0.0.18")
	GroupV6 = netip.MustParseAddr("ff02::12")
)

// Version is the VRRP protocol version: 2 (RFC 3768, IPv4 only) or 3 (RFC 5798).
type Version uint8

const (
	V2 Version = 2
	V3 Version = 3
)

// AuthType is the RFC 3768 authentication type; VRRPv3 has none.
type AuthType uint8

const (
	AuthNone AuthType = 0
	// AuthPass is "simple text password" (keepalived's auth_type PASS).
	AuthPass AuthType = 1
	// AuthAH is IP Authentication Header, recognised so it can be refused by name.
	AuthAH AuthType = 2
)

func (t AuthType) String() string {
	switch t {
	case AuthNone:
		return "none"
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	}
	return fmt.Sprintf("auth type %d", uint8(t))
}

// Advert is one VRRP advertisement. The zero value is not valid; set at least
// Version, VRID, Priority, Interval and Addrs.
type Advert struct {
	Version  Version
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: whole seconds in v2, a multiple
	// of 10 ms (at most 40.95 s) in v3.
	Interval time.Duration
	// AuthType and Password are used by v2 only. Password is zero-padded, as
	// keepalived sends it; a full 8-byte password has no terminator.
	AuthType AuthType
	Password [8]byte
	// Addrs are the virtual addresses, all IPv4 or all IPv6 (v3 only).
	Addrs []netip.Addr
	// Checksum is the value read by Unmarshal; Marshal computes its own.
	Checksum uint16
	// Reserved holds the v3 reserved bits (must be sent as zero, ignored on
	// receipt) so that a decoded advert re-encodes byte for byte.
	Reserved uint8
	// Signed says the advert carries Trailer, keepalived's auth_hmac
	// trailer after the PDU (trailer.go); HMAC sets it, Unmarshal reads it.
	Signed  bool
	Trailer Trailer
}

// PasswordString returns the v2 password without its zero padding.
func (a *Advert) PasswordString() string {
	n := 0
	for n < len(a.Password) && a.Password[n] != 0 {
		n++
	}
	return string(a.Password[:n])
}

// SetPassword stores p zero-padded; like keepalived, bytes past 8 are dropped.
func (a *Advert) SetPassword(p string) {
	a.Password = [8]byte{}
	copy(a.Password[:], p)
}

// Len is the encoded length of a in bytes, trailer included.
func (a *Advert) Len() int {
	n := a.pduLen()
	if a.Signed {
		n += TrailerLen
	}
	return n
}

// pduLen is the length of the VRRP PDU alone.
func (a *Advert) pduLen() int {
	n := headerLen + len(a.Addrs)*addrLen(a.Addrs)
	if a.Version == V2 {
		n += authDataLen
	}
	return n
}

func addrLen(addrs []netip.Addr) int {
	if len(addrs) > 0 && addrs[0].Is6() && !addrs[0].Is4In6() {
		return 16
	}
	return 4
}

// Marshal encodes a as sent from src to dst (the pseudo-header of the v3
// checksum needs both; v2 ignores them).
func (a *Advert) Marshal(src, dst netip.Addr) ([]byte, error) {
	return a.AppendMarshal(make([]byte, 0, a.Len()), src, dst)
}

// AppendMarshal appends the encoding of a to b, for callers that reuse a
// buffer: the PDU, then the trailer if a is signed.
func (a *Advert) AppendMarshal(b []byte, src, dst netip.Addr) ([]byte, error) {
	if err := a.validateForSend(src, dst); err != nil {
		return b, err
	}
	start := len(b)
	b = a.appendPDU(b)
	if a.Signed {
		b = a.Trailer.append(b)
	}
	msg := b[start:]
	binary.BigEndian.PutUint16(msg[6:], a.checksum(msg, src, dst))
	return b, nil
}

// appendPDU appends the PDU with its checksum field zero: what the
// checksum and the HMAC are computed over.
func (a *Advert) appendPDU(b []byte) []byte {
	b = append(b, byte(a.Version)<<4|typeAdvert, a.VRID, a.Priority, byte(len(a.Addrs)))
	switch a.Version {
	case V2:
		b = append(b, byte(a.AuthType), byte(a.Interval/time.Second))
	case V3:
		cs := uint16(a.Interval / centisecond)
		b = append(b, a.Reserved<<4|byte(cs>>8), byte(cs))
	}
	b = append(b, 0, 0)
	for _, ip := range a.Addrs {
		b = append(b, ip.AsSlice()...)
	}
	if a.Version == V2 {
		b = append(b, a.Password[:]...)
	}
	return b
}

// ValidInterval reports whether an advert of version v can carry d: whole
// seconds from 1 to 255 (RFC 3768), centiseconds from 10ms to 40.95s
// (RFC 5798). The one rule: the policy checks advert_interval with it.
func ValidInterval(v Version, d time.Duration) bool {
	switch v {
	case V2:
		return d > 0 && d%time.Second == 0 && d <= maxV2Interval*time.Second
	case V3:
		return d > 0 && d%centisecond == 0 && d <= maxV3Interval*centisecond
	}
	return false
}

func (a *Advert) validateForSend(src, dst netip.Addr) error {
	switch a.Version {
	case V2:
		if !ValidInterval(V2, a.Interval) {
			return fmt.Errorf("%w: v2 needs whole seconds from 1 to 255, got %v", ErrInterval, a.Interval)
		}
	case V3:
		if !ValidInterval(V3, a.Interval) {
			return fmt.Errorf("%w: v3 needs a multiple of 10ms up to 40.95s, got %v", ErrInterval, a.Interval)
		}
		if !src.IsValid() || !dst.IsValid() {
			return fmt.Errorf("vrrp: v3 checksum needs source and destination addresses")
		}
	default:
		return fmt.Errorf("%w: %d", ErrVersion, a.Version)
	}
	if len(a.Addrs) > MaxAddrs {
		return fmt.Errorf("%w: %d addresses, at most %d fit", ErrAddrCount, len(a.Addrs), MaxAddrs)
	}
	if len(a.Addrs) == 0 && a.Version == V3 {
		return fmt.Errorf("%w: VRRPv3 needs at least one address (RFC 5798 5.2.5)", ErrAddrCount)
	}
	v6 := addrLen(a.Addrs) == 16
	if len(a.Addrs) == 0 && src.IsValid() {
		v6 = !src.Unmap().Is4()
	}
	if v6 && a.Version == V2 {
		return fmt.Errorf("%w: VRRPv2 carries IPv4 addresses only", ErrVersion)
	}
	if src.IsValid() && src.Unmap().Is4() == v6 {
		return fmt.Errorf("%w: %s addresses sent from %v", ErrAddrFamily, familyName(v6), src)
	}
	for _, ip := range a.Addrs {
		if !ip.IsValid() || (ip.Is4() || ip.Is4In6()) == v6 {
			return fmt.Errorf("%w: %v mixed into a %s advert", ErrAddrFamily, ip, familyName(v6))
		}
	}
	return nil
}

func familyName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// Unmarshal decodes the VRRP message b received from src to dst and verifies
// everything the message itself can prove: type, version, length, checksum.
// It reuses a.Addrs' storage, so a caller decoding into the same Advert
// allocates nothing once the slice has grown. Checks that need configuration
// (auth, interval, TTL) are in Verify.
func (a *Advert) Unmarshal(b []byte, src, dst netip.Addr) error {
	if len(b) < headerLen {
		return fmt.Errorf("%w: %d bytes, the header alone is %d", ErrShort, len(b), headerLen)
	}
	ver, typ := Version(b[0]>>4), b[0]&0x0f
	if ver != V2 && ver != V3 {
		return fmt.Errorf("%w: %d", ErrVersion, ver)
	}
	if typ != typeAdvert {
		return fmt.Errorf("%w: %d", ErrType, typ)
	}
	v6 := src.Is6() && !src.Is4In6()
	if v6 && ver == V2 {
		return fmt.Errorf("%w: VRRPv2 over IPv6", ErrVersion)
	}
	alen := 4
	if v6 {
		alen = 16
	}
	count := int(b[3])
	// RFC 5798 §5.2.5: at least one address. keepalived runs a VRRPv2
	// instance without VIPs (a notify-only one) and advertises it with a
	// count of 0; its VRRPv3 refuses such an instance. So v2 takes 0, v3
	// does not.
	if count == 0 && ver == V3 {
		return fmt.Errorf("%w: no address", ErrAddrCount)
	}
	want := headerLen + count*alen
	if ver == V2 {
		want += authDataLen
	}
	if len(b) < want {
		return fmt.Errorf("%w: %d addresses need %d bytes, got %d", ErrShort, count, want, len(b))
	}
	// keepalived's auth_hmac trailer is known by its length alone: exactly
	// TrailerLen bytes past the PDU (FORMAT.md §1).
	a.Signed = len(b) == want+TrailerLen
	if len(b) > want && !a.Signed {
		return fmt.Errorf("%w: %d addresses need %d bytes, got %d", ErrAddrCount, count, want, len(b))
	}
	if a.Signed {
		a.Trailer.decode(b[want:])
	}
	a.Version, a.VRID, a.Priority = ver, b[1], b[2]
	a.Checksum = binary.BigEndian.Uint16(b[6:])
	if ver == V2 {
		a.AuthType, a.Interval, a.Reserved = AuthType(b[4]), time.Duration(b[5])*time.Second, 0
		copy(a.Password[:], b[want-authDataLen:want])
	} else {
		a.AuthType, a.Password, a.Reserved = AuthNone, [8]byte{}, b[4]>>4
		a.Interval = time.Duration(binary.BigEndian.Uint16(b[4:])&maxV3Interval) * centisecond
	}
	a.Addrs = a.Addrs[:0]
	for off := headerLen; off < headerLen+count*alen; off += alen {
		if v6 {
			a.Addrs = append(a.Addrs, netip.AddrFrom16([16]byte(b[off:off+16])))
		} else {
			a.Addrs = append(a.Addrs, netip.AddrFrom4([4]byte(b[off:off+4])))
		}
	}
	if got := a.checksum(b, src, dst); got != 0 {
		return fmt.Errorf("%w: message sums to %#04x, want 0", ErrChecksum, got)
	}
	return nil
}

// checksum returns the Internet checksum of msg (v2) or of the pseudo-header
// and msg (v3). Over a message whose checksum field is filled in it is 0.
// A signed message's trailer is covered over IPv6 only, where keepalived
// has the kernel sum the whole payload (IPV6_CHECKSUM); over IPv4 its
// checksum is the PDU's alone (FORMAT.md §4).
func (a *Advert) checksum(msg []byte, src, dst netip.Addr) uint16 {
	if len(msg) > a.pduLen() && !(src.Is6() && !src.Is4In6()) {
		msg = msg[:a.pduLen()]
	}
	var sum uint32
	if a.Version == V3 {
		s, d := src.Unmap(), dst.Unmap()
		for _, ip := range [2]netip.Addr{s, d} {
			if ip.Is4() {
				v := ip.As4()
				sum = sumBytes(sum, v[:])
			} else {
				v := ip.As16()
				sum = sumBytes(sum, v[:])
			}
		}
		// IPv4: zero, protocol, 16-bit length. IPv6: 32-bit length, zeros, next header.
		// Both add up to protocol + length in 16-bit one's complement.
		sum += IPProto + uint32(len(msg))
	}
	sum = sumBytes(sum, msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func sumBytes(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}
