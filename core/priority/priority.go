// Package priority is the one place for the rules that decide a VRRP
// instance's priority and who wins an election: keepalived's effective
// priority (base plus the weights of tracked checks and interfaces,
// clamped to 1-254, FAULT for a failing source without weight) and
// RFC 5798's tie-break. The engine, the plan and the policy's warnings all
// call it, so that they cannot disagree.
package priority

import "net/netip"

const (
	// Owner is the priority of the router that owns the addresses
	// (RFC 5798 §6.1): it takes over at once and is never clamped down to
	// while untracked.
	Owner = 255
	// Resign (0) is sent by a master that leaves (RFC 5798 §6.4.3).
	Resign = 0
	// Lowest and Highest bound a priority once any weight applies, as
	// keepalived clamps it.
	Lowest, Highest = 1, 254
	// MaxWeight bounds a weight either way (keepalived's -253..253): a
	// valued source below -MaxWeight faults.
	MaxWeight = Highest - Lowest
)

// Source is something an instance tracks: a check or an interface.
type Source struct {
	// Weight is added while the source is up (positive) or subtracted
	// while it is down (negative).
	Weight int
	// Fault puts the instance in FAULT while the source is down instead
	// of weighing: a weight of 0, and every source of a sync group member
	// (a group's members move together, so weights would pull them apart).
	Fault bool
	// Reverse turns the source around, as keepalived's "reverse": the
	// delta it would give is subtracted instead, and a fault source
	// faults while up rather than while down.
	Reverse bool
}

// Delta is what s contributes to the priority while down (or up):
// negative weights apply while down, positive ones while up (negated when
// reversed), a fault source never weighs.
func (s Source) Delta(down bool) int {
	d := 0
	switch {
	case s.Fault:
	case s.Weight < 0 && down, s.Weight > 0 && !down:
		d = s.Weight
	}
	if s.Reverse {
		return -d
	}
	return d
}

// span is the least and the most s can contribute.
func (s Source) span() (lo, hi int) {
	up, down := s.Delta(false), s.Delta(true)
	return min(up, down), max(up, down)
}

// Valued is what a number read by a valued check (keepalived's
// track_file) does to an instance: on a fault source (weight 0) any number
// but 0 faults; otherwise the number times the weight is the delta, and
// one below -253 faults, as keepalived has it. Reversed, the product is
// negated and a fault source faults on 0 instead.
func (s Source) Valued(v int64) (delta int, fault bool) {
	if s.Fault {
		return 0, (v != 0) != s.Reverse
	}
	v = min(max(v, -1<<20), 1<<20) // no overflow whatever a file holds
	d := v * int64(s.Weight)
	if s.Reverse {
		d = -d
	}
	if d < -MaxWeight {
		return 0, true
	}
	return int(min(d, Highest)), false
}

// Faults reports whether s holds the instance in FAULT while down.
func (s Source) Faults(down bool) bool { return s.Fault && down != s.Reverse }

// Effective is base plus the deltas applied now. With no delta applied the
// base stands, an owner's 255 included; otherwise the sum is clamped to
// Lowest-Highest.
func Effective(base uint8, deltas ...int) uint8 {
	p, applied := int(base), false
	for _, d := range deltas {
		if d != 0 {
			p, applied = p+d, true
		}
	}
	if !applied {
		return base
	}
	return uint8(min(max(p, Lowest), Highest))
}

// Ceiling is the highest priority the sources can lift base to: every
// weight that raises it applied.
func Ceiling(base uint8, sources []Source) uint8 {
	var deltas []int
	for _, s := range sources {
		_, hi := s.span()
		deltas = append(deltas, hi)
	}
	return Effective(base, deltas...)
}

// Range is the lowest and highest sum of base and weights before clamping
// (every weight that lowers it applied, or every one that raises it), for
// warnings that the clamp makes weights do less than they say.
func Range(base uint8, sources []Source) (lo, hi int) {
	lo, hi = int(base), int(base)
	for _, s := range sources {
		l, h := s.span()
		lo += l
		hi += h
	}
	return lo, hi
}

// Outranks reports whether priority a from primary address aAddr wins over
// b from bAddr: the higher priority, and between equal ones the higher
// primary address (RFC 5798 §6.4.3). An unknown address never wins a tie.
func Outranks(a uint8, aAddr netip.Addr, b uint8, bAddr netip.Addr) bool {
	if a != b {
		return a > b
	}
	return aAddr.IsValid() && aAddr.Unmap().Compare(bAddr.Unmap()) > 0
}
