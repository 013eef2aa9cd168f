package priority

import (
	"net/netip"
	"testing"
)

func TestEffective(t *testing.T) {
	cases := []struct {
		name   string
		base   uint8
		deltas []int
		want   uint8
	}{
		{"untracked", 100, nil, 100},
		{"weights that apply nothing", 100, []int{0, 0}, 100},
		{"a failing check at -25", 100, []int{-25}, 75},
		{"two sources add up", 100, []int{-25, 10}, 85},
		{"clamped at the bottom", 20, []int{-50}, 1},
		{"clamped at the top", 250, []int{10}, 254},
		{"an untracked owner stays at 255", 255, nil, 255},
		{"an owner with nothing applied stays at 255", 255, []int{0}, 255},
		{"an owner with a weight applied is a backup's priority", 255, []int{-5}, 250},
		{"an owner with a positive weight is clamped", 255, []int{5}, 254},
	}
	for _, c := range cases {
		if got := Effective(c.base, c.deltas...); got != c.want {
			t.Errorf("%s: Effective(%d, %v) = %d, want %d", c.name, c.base, c.deltas, got, c.want)
		}
	}
}

func TestSource(t *testing.T) {
	cases := []struct {
		s      Source
		down   bool
		delta  int
		faults bool
	}{
		{Source{Weight: -25}, true, -25, false},
		{Source{Weight: -25}, false, 0, false},
		{Source{Weight: 10}, false, 10, false},
		{Source{Weight: 10}, true, 0, false},
		{Source{Fault: true}, true, 0, true},
		{Source{Fault: true}, false, 0, false},
		{Source{Weight: -25, Fault: true}, true, 0, true}, // a sync group member
		// reverse, as keepalived's weight ... reverse
		{Source{Weight: 10, Reverse: true}, false, -10, false},
		{Source{Weight: 10, Reverse: true}, true, 0, false},
		{Source{Weight: -25, Reverse: true}, true, 25, false},
		{Source{Weight: -25, Reverse: true}, false, 0, false},
		{Source{Fault: true, Reverse: true}, false, 0, true},
		{Source{Fault: true, Reverse: true}, true, 0, false},
	}
	for _, c := range cases {
		if d := c.s.Delta(c.down); d != c.delta {
			t.Errorf("%+v down=%v: delta %d, want %d", c.s, c.down, d, c.delta)
		}
		if f := c.s.Faults(c.down); f != c.faults {
			t.Errorf("%+v down=%v: faults %v, want %v", c.s, c.down, f, c.faults)
		}
	}
	if got := Ceiling(240, []Source{{Weight: 10}, {Weight: 10}, {Weight: -50}}); got != 254 {
		t.Errorf("ceiling %d, want 254", got)
	}
	if got := Ceiling(255, []Source{{Weight: -10}}); got != 255 {
		t.Errorf("an owner's ceiling with only negative weights = %d, want 255", got)
	}
	if lo, hi := Range(100, []Source{{Weight: -150}, {Weight: 200}, {Fault: true}}); lo != -50 || hi != 300 {
		t.Errorf("range %d..%d, want -50..300", lo, hi)
	}
	if lo, hi := Range(100, []Source{{Weight: 20, Reverse: true}, {Weight: -30, Reverse: true}}); lo != 80 || hi != 130 {
		t.Errorf("reversed range %d..%d, want 80..130", lo, hi)
	}
	if got := Ceiling(100, []Source{{Weight: 20, Reverse: true}, {Weight: -30, Reverse: true}}); got != 130 {
		t.Errorf("reversed ceiling %d, want 130", got)
	}
}

func TestOutranks(t *testing.T) {
	lo, hi := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	mapped := netip.MustParseAddr("::ffff:192.0.2.2")
	cases := []struct {
		a     uint8
		aAddr netip.Addr
		b     uint8
		bAddr netip.Addr
		want  bool
	}{
		{101, lo, 100, hi, true},
		{100, hi, 101, lo, false},
		{100, hi, 100, lo, true}, // equal: higher address wins
		{100, lo, 100, hi, false},
		{100, mapped, 100, lo, true}, // a v4-mapped address compares as IPv4
		{100, netip.Addr{}, 100, lo, false},
		{100, lo, 100, lo, false},
	}
	for _, c := range cases {
		if got := Outranks(c.a, c.aAddr, c.b, c.bAddr); got != c.want {
			t.Errorf("Outranks(%d %v, %d %v) = %v, want %v", c.a, c.aAddr, c.b, c.bAddr, got, c.want)
		}
	}
}

// TestValued: keepalived's track_file rules.
func TestValued(t *testing.T) {
	for _, c := range []struct {
		src   Source
		v     int64
		delta int
		fault bool
	}{
		{Source{Weight: 1}, -100, -100, false},
		{Source{Weight: 1}, -253, -253, false},
		{Source{Weight: 1}, -254, 0, true},
		{Source{Weight: -2}, 10, -20, false},
		{Source{Weight: 10}, 100, 254, false},
		{Source{Weight: 1}, 1 << 62, 254, false}, // no overflow
		{Source{Weight: -1}, 1 << 62, 0, true},
		{Source{Fault: true}, 0, 0, false},
		{Source{Fault: true}, 3, 0, true},
		// reverse: keepalived's multiplier of -1
		{Source{Weight: 2, Reverse: true}, 10, -20, false},
		{Source{Weight: 1, Reverse: true}, 254, 0, true},
		{Source{Fault: true, Reverse: true}, 0, 0, true},
		{Source{Fault: true, Reverse: true}, 3, 0, false},
	} {
		if d, f := c.src.Valued(c.v); d != c.delta || f != c.fault {
			t.Errorf("%+v.Valued(%d) = %d, %v; want %d, %v", c.src, c.v, d, f, c.delta, c.fault)
		}
	}
}
