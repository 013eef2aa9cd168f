package engine

import (
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/core/fsm"
)

// Sync groups (keepalived's vrrp_sync_group): the instances of a group
// change state together on a node. One entering MASTER takes the group's
// backups with it; one leaving MASTER for BACKUP makes the others resign
// (priority 0, so their backups follow at once); one in FAULT holds the
// others in FAULT until no member has a fault of its own. Weights are not
// used inside a group (the policy turns them into faults, as keepalived
// does), so that members of one node cannot pull each other both ways.

const syncSource = "sync group"

// members lists the other running instances of in's sync group.
func (e *Engine) members(in *instance) []*instance {
	var out []*instance
	for _, name := range e.order {
		if o, ok := e.instances[name]; ok && o != in && !o.stopped && o.cfg.SyncGroup == in.cfg.SyncGroup {
			out = append(out, o)
		}
	}
	return out
}

// followTransition carries one member's state change to the rest of its
// group. Changes it causes are not carried further: they move the other
// members to where the first one already is.
func (e *Engine) followTransition(now time.Time, in *instance, a fsm.Action) {
	if in.cfg.SyncGroup == "" || e.syncing {
		return
	}
	e.syncing = true
	defer func() { e.syncing = false }()
	why := fmt.Sprintf("sync group %s: %s entered %s", in.cfg.SyncGroup, in.cfg.Name, a.To)
	for _, o := range e.members(in) {
		switch {
		case a.To == fsm.Master:
			o.exec(o.m.SyncMaster(now, why))
		case a.To == fsm.Backup && a.From == fsm.Master && o.m.State() == fsm.Master:
			o.exec(o.m.Resign(now, why))
		}
		e.fix(o)
	}
	e.syncFaults(now, in)
}

// syncFaults holds every member of in's group in FAULT while another
// member has a fault of its own, and releases them when none has.
func (e *Engine) syncFaults(now time.Time, in *instance) {
	if in.cfg.SyncGroup == "" {
		return
	}
	group := append(e.members(in), in)
	was := e.syncing
	e.syncing = true
	defer func() { e.syncing = was }()
	for _, o := range group {
		held, cause := false, ""
		for _, p := range group {
			if p != o && p.m.Faults()&^fsm.FaultSync != 0 {
				held, cause = true, p.cfg.Name
			}
		}
		if held == (o.m.Faults()&fsm.FaultSync != 0) {
			continue
		}
		why := fmt.Sprintf("sync group %s: no member in FAULT", in.cfg.SyncGroup)
		if held {
			why = fmt.Sprintf("sync group %s: %s is in FAULT", in.cfg.SyncGroup, cause)
		}
		o.setFault(now, fsm.FaultSync, syncSource, held, why)
		e.fix(o)
	}
}
