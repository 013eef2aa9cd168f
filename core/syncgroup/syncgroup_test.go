package syncgroup

import (
	"testing"

	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/priority"
)

func TestFollow(t *testing.T) {
	I, B, M, F := fsm.Init, fsm.Backup, fsm.Master, fsm.Fault
	cases := []struct {
		from, to, member fsm.State
		want             Move
	}{
		{B, M, B, TakeOver},
		{B, M, F, TakeOver}, // asked; the state machine refuses from FAULT
		{I, M, M, TakeOver},
		{M, B, M, Resign},
		{M, B, B, Stay},
		{M, F, M, Stay}, // FAULT is shared through Held
		{B, F, M, Stay},
		{F, B, M, Stay}, // leaving FAULT for BACKUP is not a resignation
		{I, B, M, Stay},
	}
	for _, c := range cases {
		if got := Follow(c.from, c.to, c.member); got != c.want {
			t.Errorf("Follow(%v→%v, member %v) = %v, want %v", c.from, c.to, c.member, got, c.want)
		}
	}
}

func TestHeld(t *testing.T) {
	cases := []struct {
		faulty []bool
		i      int
		held   bool
		cause  int
	}{
		{[]bool{false, false}, 0, false, -1},
		{[]bool{true, false}, 0, false, -1}, // its own fault is not a hold
		{[]bool{true, false}, 1, true, 0},
		{[]bool{true, true}, 0, true, 1},
		{[]bool{false}, 0, false, -1},
		{nil, 0, false, -1},
	}
	for _, c := range cases {
		held, cause := Held(c.faulty, c.i)
		if held != c.held || cause != c.cause {
			t.Errorf("Held(%v, %d) = %v, %d; want %v, %d", c.faulty, c.i, held, cause, c.held, c.cause)
		}
	}
}

func TestTrack(t *testing.T) {
	cases := []struct {
		in      priority.Source
		ignored bool
	}{
		{priority.Source{Weight: -10}, true},
		{priority.Source{Weight: 5}, true},
		{priority.Source{Fault: true}, false},
	}
	for _, c := range cases {
		out, ignored := Track(c.in)
		if !out.Fault || ignored != c.ignored || out.Delta(true) != 0 || !out.Faults(true) {
			t.Errorf("Track(%+v) = %+v, ignored %v", c.in, out, ignored)
		}
	}
}

func TestEligible(t *testing.T) {
	if !Eligible(true) || !Eligible(true, true, true) || Eligible(false) || Eligible(true, true, false) || Eligible(false, true) {
		t.Error("a member is eligible only when it and every mate are")
	}
}

func TestState(t *testing.T) {
	m := func(s fsm.State) Member { return Member{State: s, Started: true} }
	none := Member{}
	cases := []struct {
		members []Member
		want    fsm.State
	}{
		{nil, fsm.Init},
		{[]Member{none, none}, fsm.Init},
		{[]Member{m(fsm.Init), none}, fsm.Init},
		{[]Member{m(fsm.Master), m(fsm.Master)}, fsm.Master},
		{[]Member{m(fsm.Master), none}, fsm.Backup},        // one not started keeps the group from MASTER
		{[]Member{m(fsm.Master), m(fsm.Init)}, fsm.Master}, // stopping member by member
		{[]Member{m(fsm.Init), m(fsm.Init)}, fsm.Init},
		{[]Member{m(fsm.Backup), none}, fsm.Backup},
		{[]Member{m(fsm.Master), m(fsm.Backup)}, fsm.Backup},
		{[]Member{m(fsm.Backup), m(fsm.Backup)}, fsm.Backup},
		{[]Member{m(fsm.Master), m(fsm.Fault)}, fsm.Fault},
		{[]Member{none, m(fsm.Fault)}, fsm.Fault},
	}
	for _, c := range cases {
		if got := State(c.members); got != c.want {
			t.Errorf("State(%+v) = %v, want %v", c.members, got, c.want)
		}
	}
}
