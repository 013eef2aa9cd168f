package engine

import (
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/syncgroup"
)

// Sync groups (keepalived's vrrp_sync_group): the engine carries each
// member's change to the others by the rules of core/syncgroup (who takes
// over, who resigns, who is held in FAULT).

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
		switch syncgroup.Follow(a.From, a.To, o.m.State()) {
		case syncgroup.TakeOver:
			o.exec(o.m.SyncMaster(now, why))
		case syncgroup.Resign:
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
	faulty := make([]bool, len(group)) // a fault of its own, not the group's
	for i, o := range group {
		faulty[i] = o.m.Faults()&^fsm.FaultSync != 0
	}
	for i, o := range group {
		held, cause := syncgroup.Held(faulty, i)
		if held == (o.m.Faults()&fsm.FaultSync != 0) {
			continue
		}
		why := fmt.Sprintf("sync group %s: no member in FAULT", in.cfg.SyncGroup)
		if held {
			why = fmt.Sprintf("sync group %s: %s is in FAULT", in.cfg.SyncGroup, group[cause].cfg.Name)
		}
		o.setFault(now, fsm.FaultSync, syncSource, held, why)
		e.fix(o)
	}
}
