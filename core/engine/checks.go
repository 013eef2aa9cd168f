package engine

import (
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/fsm"
)

// The check API: the agent's checks and actions move instances through
// these, on the loop, by the same rules as an interface's state.

// checkState is the state a check was last given in, kept for the
// instances that start later (a reload's).
type checkState struct {
	failing bool
	value   *int64
	why     string
}

// apply gives the state to one instance's track of the check.
func (cs checkState) apply(now time.Time, in *instance, check string, t config.TrackCheck) {
	if cs.value != nil {
		in.trackValue(now, fsm.FaultCheck, "check "+check, t.Source(), *cs.value, cs.why)
	} else {
		in.track(now, fsm.FaultCheck, "check "+check, t.Source(), cs.failing, cs.why)
	}
	if in.awaiting[check] {
		delete(in.awaiting, check)
		if len(in.awaiting) == 0 {
			in.start(now)
		}
	}
}

// SetCheck applies a check's state to every instance that tracks it, by
// the same rules as an interface's: its weight, or FAULT.
func (e *Engine) SetCheck(check string, failing bool, why string) {
	e.setCheck(check, checkState{failing: failing, why: why})
}

// SetCheckValue weighs the number a valued check read (keepalived's
// track_file) on every instance that tracks it (priority.Source.Valued).
func (e *Engine) SetCheckValue(check string, value int64, why string) {
	e.setCheck(check, checkState{value: &value, why: why})
}

func (e *Engine) setCheck(check string, cs checkState) {
	e.eachTrack(check, func(now time.Time, in *instance, t config.TrackCheck) { cs.apply(now, in, check, t) })
	e.do(func(time.Time) { e.checks[check] = cs })
}

// knownChecks gives an instance about to start the state of the checks it
// tracks that have one. An instance without VRRP (BGP health mode) waits
// for the others: it would otherwise hold and announce its addresses
// before its checks (init_fail among them) have said anything.
func (e *Engine) knownChecks(now time.Time, in *instance) {
	for _, t := range in.cfg.Track {
		if cs, ok := e.checks[t.Check]; ok {
			cs.apply(now, in, t.Check, t)
		} else if in.cfg.Standalone() {
			if in.awaiting == nil {
				in.awaiting = map[string]bool{}
			}
			in.awaiting[t.Check] = true
		}
	}
}

// eachTrack runs apply, on the loop, for every instance's track of check,
// in policy order, and settles each instance after.
func (e *Engine) eachTrack(check string, apply func(now time.Time, in *instance, t config.TrackCheck)) {
	e.do(func(now time.Time) {
		for _, name := range e.order {
			in, ok := e.instances[name]
			if !ok {
				continue
			}
			for _, t := range in.cfg.Track {
				if t.Check == check {
					apply(now, in, t)
					e.fix(in)
				}
			}
		}
	})
}

// ClearCheck lifts whatever a check applied to any instance (the check
// was removed or replaced).
func (e *Engine) ClearCheck(check string) {
	e.do(func(now time.Time) {
		delete(e.checks, check)
		src := "check " + check
		for _, in := range e.instances {
			if _, weighs := in.deltas[src]; weighs {
				in.setDelta(now, src, 0)
			}
			if in.faults[fsm.FaultCheck][src] {
				in.setFault(now, fsm.FaultCheck, src, false, "check "+check+" removed")
			}
			e.fix(in)
		}
	})
}

// SetFault holds (on) or releases instance in FAULT on behalf of source
// (a check with weight 0, an action that yielded); it leaves FAULT when no
// source holds it any more.
func (e *Engine) SetFault(name string, r fsm.FaultReason, source string, on bool, why string) error {
	return e.onInstance(name, func(now time.Time, in *instance) { in.setFault(now, r, source, on, why) })
}

// onInstance runs f for the named instance on the loop.
func (e *Engine) onInstance(name string, f func(time.Time, *instance)) error {
	var err error
	e.do(func(now time.Time) {
		in, ok := e.instances[name]
		if !ok {
			err = fmt.Errorf("no instance %q", name)
			return
		}
		f(now, in)
		e.fix(in)
	})
	return err
}
