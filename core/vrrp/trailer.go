package vrrp

import (
	"encoding/binary"
	"time"
)

// keepalived 2.4.2's auth_hmac trailer (2.4.3 keeps its format): 28 bytes
// after the VRRP PDU, told apart from a plain advert by length alone.
const (
	// TrailerLen is the trailer's length on the wire.
	TrailerLen = 28
	// MACLen is the length of the truncated HMAC-SHA256 it carries.
	MACLen = 16
	// ExtHMACSHA256 is the only trailer type: HMAC-SHA256 truncated to
	// 128 bits.
	ExtHMACSHA256 = 1
)

// Trailer is an auth_hmac trailer.
type Trailer struct {
	Type     uint8
	KeyID    uint8
	Reserved uint16
	Seq      Seq
	MAC      [MACLen]byte
}

func (t *Trailer) decode(b []byte) {
	t.Type, t.KeyID = b[0], b[1]
	t.Reserved = binary.BigEndian.Uint16(b[2:])
	t.Seq = Seq(binary.BigEndian.Uint64(b[4:]))
	copy(t.MAC[:], b[12:TrailerLen])
}

// appendHead appends the fields before the MAC.
func (t *Trailer) appendHead(b []byte) []byte {
	b = append(b, t.Type, t.KeyID)
	b = binary.BigEndian.AppendUint16(b, t.Reserved)
	return binary.BigEndian.AppendUint64(b, uint64(t.Seq))
}

func (t *Trailer) append(b []byte) []byte {
	return append(t.appendHead(b), t.MAC[:]...)
}

// Seq is the trailer's 64-bit sequence number: UTC seconds (mod 2^32) in
// the top 32 bits, 1/65536ths of a second in the next 16, a counter in
// the last 16 that orders adverts sent within one such tick.
type Seq uint64

// SeqAt is the sequence number of a clock reading, its counter zero.
func SeqAt(t time.Time) Seq {
	sub := uint64(t.Nanosecond()) << 16 / uint64(time.Second)
	return Seq(uint64(uint32(t.Unix()))<<32 | sub<<16)
}

// Sec is the seconds part.
func (s Seq) Sec() uint32 { return uint32(s >> 32) }

// After reports whether s comes after o in serial number arithmetic
// (RFC 1982), so that ordering survives the seconds field's wrap in 2106.
func (s Seq) After(o Seq) bool { return int64(s-o) > 0 }

// seqDuration is d in sequence units (2^32 a second), whole seconds and
// fraction apart so that no product overflows.
func seqDuration(d time.Duration) Seq {
	if d <= 0 {
		return 0
	}
	sec, frac := uint64(d/time.Second), uint64(d%time.Second)
	return Seq(sec<<32 + frac<<32/uint64(time.Second))
}

// secondsApart is a-b in whole seconds, as a signed 32-bit difference
// of the seconds fields (keepalived's comparison).
func secondsApart(a, b uint32) int64 { return int64(int32(a - b)) }
