package agent

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/pluginhost"
	"github.com/vigil-ha/vigil/core/track"
	"github.com/vigil-ha/vigil/sdk"
)

// instances is what checks and actions need of the engine: a check's
// state to weigh on the instances that track it, and FAULT held on behalf
// of an action that yielded.
type instances interface {
	SetCheck(check string, failing bool, why string)
	SetCheckValue(check string, value int64, why string)
	ClearCheck(check string)
	SetFault(name string, r fsm.FaultReason, source string, on bool, why string) error
}

// checks runs the policy's health checks and hands each change to the
// engine (which weighs it, core/priority), or first to the check's
// recovery actions.
type checks struct {
	*launcher
	eng  instances
	acts *actions

	mu      sync.Mutex
	cfg     *config.Config
	running map[string]*runningCheck
}

type runningCheck struct {
	cfg     config.Check
	plugin  *pluginhost.Plugin
	timed   *timedChecker
	tracker *track.Tracker
	failing bool   // as the tracker last reported
	message string // with it
	cancel  context.CancelFunc
	// failures counts the check's failures; an action's outcome applies
	// only to the failure it was run for.
	failures uint64
}

func newChecks(l *launcher, eng instances, acts *actions) *checks {
	cs := &checks{launcher: l, eng: eng, acts: acts, running: map[string]*runningCheck{}}
	acts.judge = cs
	return cs
}

// apply makes the running checks match cfg, once the engine runs the
// instances they weigh on. A check whose settings and tracking are
// unchanged keeps running with its rise/fall state, so that a reload
// cannot lift a failing check's weight. Actions follow.
func (cs *checks) apply(prev, cfg *config.Config) hcl.Diagnostics {
	cs.mu.Lock()
	cs.cfg = cfg
	var diags hcl.Diagnostics
	want := map[string]config.Check{}
	for _, c := range cfg.Checks {
		want[c.Name] = c
	}
	for name, rc := range cs.running {
		if c, ok := want[name]; !ok || !reflect.DeepEqual(c, rc.cfg) || !sameTracking(prev, cfg, name) {
			rc.cancel()
			rc.plugin.Close()
			cs.eng.ClearCheck(name)
			delete(cs.running, name)
		}
	}
	var started []config.Check
	for _, c := range cfg.Checks {
		if _, running := cs.running[c.Name]; running {
			continue
		}
		if err := cs.start(cfg, c); err != nil {
			diags = append(diags, configDiags(sdk.KindCheck, c.Name, c.Config, err)...)
			continue
		}
		started = append(started, c)
	}
	cs.mu.Unlock()
	// A check starts passing (positive weights apply from the start), or
	// with init_fail failing.
	for _, c := range started {
		if c.InitFail {
			cs.applyCheck(c.Name, true, "init_fail: failing until it passes")
		} else {
			cs.applyCheck(c.Name, false, "")
		}
	}
	return append(diags, cs.acts.apply(cfg)...)
}

// sameTracking reports whether check name is tracked by the same instances
// with the same weights in both configurations.
func sameTracking(a, b *config.Config, name string) bool {
	if a == nil {
		return false
	}
	return reflect.DeepEqual(tracking(a, name), tracking(b, name))
}

func tracking(cfg *config.Config, check string) map[string]config.TrackCheck {
	out := map[string]config.TrackCheck{}
	for _, in := range cfg.Instances {
		for _, t := range in.Track {
			if t.Check == check {
				out[in.Name] = t
			}
		}
	}
	return out
}

// start launches a check; cs.mu is held.
func (cs *checks) start(cfg *config.Config, c config.Check) error {
	p, err := cs.launch(cfg, c.Name, c.Plugin, sdk.KindCheck, c.Config.JSON, func(s *pluginhost.Spec) { s.CallTimeout = max(c.Timeout, c.Interval) })
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	timed := &timedChecker{Plugin: p}
	tr := track.New(c, timed, cs.log, cs.changed)
	cs.running[c.Name] = &runningCheck{cfg: c, plugin: p, timed: timed, tracker: tr, cancel: cancel}
	go tr.Run(ctx)
	return nil
}

// changed is called by a tracker when its check changes state. A failing
// check that has recovery actions is handed to them first, and its weight
// or fault waits for their outcome: the seed's script restarted nginx
// before it reported anything, so a restart that works moves nothing.
func (cs *checks) changed(ch track.Change) {
	cs.mu.Lock()
	cfg := cs.cfg
	var failure uint64
	if rc := cs.running[ch.Check]; rc != nil {
		rc.failing, rc.message = ch.Failing, ch.Message
		if ch.Failing {
			rc.failures++
			failure = rc.failures
		}
	}
	cs.mu.Unlock()
	var recover []config.Action
	for _, a := range cfg.Actions {
		if a.When == ch.Check {
			recover = append(recover, a)
		}
	}
	if !ch.Failing && ch.Value != nil {
		cs.eng.SetCheckValue(ch.Check, *ch.Value, fmt.Sprintf("check %s reads %d: %s", ch.Check, *ch.Value, ch.Message))
		cs.acts.release(cfg, ch.Check)
		return
	}
	if !ch.Failing {
		cs.applyCheck(ch.Check, false, ch.Message)
		cs.acts.release(cfg, ch.Check)
		return
	}
	if len(recover) == 0 {
		cs.applyCheck(ch.Check, true, ch.Message)
	}
	for _, a := range recover {
		cs.acts.start(cfg, a, ch, failure)
	}
}

// current reports whether check is still failing with the failure an
// action was run for (not passing again, not failed anew, not removed).
func (cs *checks) current(check string, failure uint64) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	rc := cs.running[check]
	return rc != nil && rc.failures == failure && rc.failing
}

// fail lets a check's failure weigh (its action yielded or could not run).
func (cs *checks) fail(check, msg string) { cs.applyCheck(check, true, msg) }

// applyCheck hands a check's state to the engine, which weighs it on the
// instances that track it (core/priority's rules, as for interfaces).
func (cs *checks) applyCheck(check string, failing bool, msg string) {
	why := fmt.Sprintf("check %s passes: %s", check, msg)
	if failing {
		why = fmt.Sprintf("check %s failed: %s", check, msg)
	}
	cs.eng.SetCheck(check, failing, why)
}

// stop ends every check and action.
func (cs *checks) stop() {
	cs.mu.Lock()
	for _, rc := range cs.running {
		rc.cancel()
		rc.plugin.Close()
	}
	cs.mu.Unlock()
	cs.acts.stop()
}

// timedChecker remembers how long the last polled run of a check took.
type timedChecker struct {
	*pluginhost.Plugin
	last atomic.Int64 // nanoseconds
}

func (t *timedChecker) Check(ctx context.Context, timeout time.Duration) (sdk.Result, error) {
	start := time.Now()
	r, err := t.Plugin.Check(ctx, timeout)
	t.last.Store(int64(time.Since(start)))
	return r, err
}

// snapshot reports every running check.
func (cs *checks) snapshot() []api.Check {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make([]api.Check, 0, len(cs.running))
	for name, rc := range cs.running {
		out = append(out, api.Check{Name: name, Plugin: rc.cfg.Plugin, Failing: rc.failing, Message: rc.message,
			LastDuration: time.Duration(rc.timed.last.Load()), Pid: rc.plugin.Pid(), Restarts: max(rc.plugin.Starts()-1, 0),
			LastError: rc.plugin.LastError()})
	}
	slices.SortFunc(out, func(a, b api.Check) int { return strings.Compare(a.Name, b.Name) })
	return out
}
