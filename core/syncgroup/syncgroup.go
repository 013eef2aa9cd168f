// Package syncgroup is the one place for the rules of a sync group
// (keepalived's vrrp_sync_group): the instances of a group on one node
// change state together. The policy, the plan, the engine and the
// notifiers call it, so that they cannot disagree. It is pure: states in,
// decisions out.
package syncgroup

import (
	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/priority"
)

// Move is what one member does when another member changes state.
type Move int

const (
	// Stay: nothing to follow.
	Stay Move = iota
	// TakeOver: become master with the group (the state machine's
	// SyncMaster, which a member in FAULT or INIT refuses).
	TakeOver
	// Resign: a master gives up (priority 0, so its backups follow at
	// once) because another member went back to BACKUP.
	Resign
)

// Follow is what a member in state member does when another member of its
// group moved from one state to another: one entering MASTER takes the
// group with it; one leaving MASTER for BACKUP makes the other masters
// resign. FAULT is shared through Held, not through moves.
func Follow(from, to, member fsm.State) Move {
	switch {
	case to == fsm.Master:
		return TakeOver
	case to == fsm.Backup && from == fsm.Master && member == fsm.Master:
		return Resign
	}
	return Stay
}

// Held reports whether member i of a group is held in FAULT: some other
// member has a fault of its own (faulty[j]). cause is that member's index
// (the last one, if several), -1 when not held.
func Held(faulty []bool, i int) (held bool, cause int) {
	cause = -1
	for j, f := range faulty {
		if j != i && f {
			cause = j
		}
	}
	return cause >= 0, cause
}

// Track is what a source tracked by a group member does: it faults
// instead of weighing, as in keepalived, so that members of one node
// cannot be pulled apart by their weights. ignored reports that the
// source had a weight that no longer counts (the policy warns of it).
func Track(s priority.Source) (out priority.Source, ignored bool) {
	return priority.Source{Weight: s.Weight, Fault: true}, !s.Fault
}

// Eligible reports whether a member can be elected on its node: it can
// itself (selfOK) and so can every other member there (matesOK), since a
// member in FAULT holds the others in FAULT.
func Eligible(selfOK bool, matesOK ...bool) bool {
	if !selfOK {
		return false
	}
	for _, ok := range matesOK {
		if !ok {
			return false
		}
	}
	return true
}

// Member is a member's last reported state; Started is false until it
// reported one.
type Member struct {
	State   fsm.State
	Started bool
}

// State is the group's state from its members', as keepalived's GROUP
// notifications report it: FAULT if any member is; INIT until one runs;
// MASTER when every member is master; BACKUP otherwise (a member not
// started yet keeps the group from MASTER).
func State(members []Member) fsm.State {
	running, masters, unstarted := 0, 0, false
	for _, m := range members {
		switch {
		case !m.Started:
			unstarted = true
			continue
		case m.State == fsm.Fault:
			return fsm.Fault
		case m.State == fsm.Init:
			continue
		case m.State == fsm.Master:
			masters++
		}
		running++
	}
	switch {
	case running == 0:
		return fsm.Init
	case masters == running && !unstarted:
		return fsm.Master
	}
	return fsm.Backup
}
