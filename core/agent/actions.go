package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/pluginhost"
	"github.com/vigil-ha/vigil/core/track"
	"github.com/vigil-ha/vigil/sdk"
)

// actionPlugin is a running action plugin.
type actionPlugin interface {
	Run(ctx context.Context, t sdk.Trigger) (sdk.Outcome, string, error)
	Close()
}

// judge is what the actions need of the checks: whether the failure an
// action runs for is still the check's current one, and to let a failure
// weigh as if there were no action.
type judge interface {
	current(check string, failure uint64) bool
	fail(check, msg string)
}

// actions runs recovery actions: at most one run of an action at a time,
// each outcome applied to the failure it was run for.
type actions struct {
	*launcher
	eng   instances
	judge judge
	// open starts an action's plugin (pluginhost, or a fake in tests).
	open func(pluginhost.Spec) (actionPlugin, error)

	mu      sync.Mutex
	running map[string]*runningAction
	// busy holds the actions running now; a failure arriving meanwhile
	// waits for the run (the latest one only).
	busy map[string]*actionRun
}

type runningAction struct {
	cfg    config.Action
	spec   pluginhost.Spec
	plugin actionPlugin
}

// actionRun is an action running now and the failure waiting for it.
type actionRun struct {
	next *pendingRun
}

type pendingRun struct {
	ch      track.Change
	failure uint64
}

func newActions(l *launcher, eng instances) *actions {
	return &actions{launcher: l, eng: eng, running: map[string]*runningAction{}, busy: map[string]*actionRun{},
		open: func(s pluginhost.Spec) (actionPlugin, error) { return pluginhost.Launch(s, l.log) }}
}

// apply makes the running action plugins match cfg. An action whose block
// and plugin settings are unchanged keeps its process, so that a run in
// progress during a reload is not cut off; a changed one is relaunched,
// and a run in progress takes the new process from its next attempt.
func (as *actions) apply(cfg *config.Config) hcl.Diagnostics {
	as.mu.Lock()
	defer as.mu.Unlock()
	var diags hcl.Diagnostics
	want := map[string]config.Action{}
	for _, a := range cfg.Actions {
		want[a.Name] = a
	}
	specs := map[string]pluginhost.Spec{}
	for _, a := range cfg.Actions {
		s, err := as.spec(cfg, a.Name, a.Plugin, sdk.KindAction, a.Config.JSON)
		if err != nil {
			diags = append(diags, configDiags(sdk.KindAction, a.Name, a.Config, err)...)
			continue
		}
		s.CallTimeout = a.Timeout
		specs[a.Name] = s
	}
	for name, ra := range as.running {
		if a, ok := want[name]; !ok || !reflect.DeepEqual(a, ra.cfg) || !reflect.DeepEqual(specs[name], ra.spec) {
			ra.plugin.Close()
			delete(as.running, name)
		}
	}
	for _, a := range cfg.Actions {
		s, ok := specs[a.Name]
		if _, running := as.running[a.Name]; running || !ok {
			continue
		}
		p, err := as.open(s)
		if err != nil {
			diags = append(diags, configDiags(sdk.KindAction, a.Name, a.Config, err)...)
			continue
		}
		as.running[a.Name] = &runningAction{cfg: a, spec: s, plugin: p}
	}
	return diags
}

// plugin is the action's current process, nil if it has none.
func (as *actions) plugin(name string) actionPlugin {
	as.mu.Lock()
	defer as.mu.Unlock()
	if ra := as.running[name]; ra != nil {
		return ra.plugin
	}
	return nil
}

// start runs a for the check's failure unless a run of it is under way;
// then the failure waits, and runs next if it is still current.
func (as *actions) start(cfg *config.Config, a config.Action, ch track.Change, failure uint64) {
	as.mu.Lock()
	if run, busy := as.busy[a.Name]; busy {
		run.next = &pendingRun{ch, failure}
		as.mu.Unlock()
		as.log.Info("action still running; the new failure waits for it", "action", a.Name, "check", ch.Check)
		return
	}
	run := &actionRun{}
	as.busy[a.Name] = run
	as.mu.Unlock()
	go func() {
		for {
			as.run(cfg, a, ch, failure)
			next := as.next(a.Name, run)
			if next == nil {
				return
			}
			ch, failure = next.ch, next.failure
		}
	}()
}

// next is the waiting failure to run for, skipping any no longer current;
// nil when none is left (the action is then no longer busy).
func (as *actions) next(name string, run *actionRun) *pendingRun {
	for {
		as.mu.Lock()
		next := run.next
		run.next = nil
		if next == nil {
			delete(as.busy, name)
			as.mu.Unlock()
			return nil
		}
		as.mu.Unlock()
		if as.judge.current(next.ch.Check, next.failure) {
			return next
		}
	}
}

// mayReadConfig reports whether action a may be given check c's config
// (nginx-action follows nginx-process's pid_file and match): only when
// both are built-ins, Vigil's own code. A third-party plugin receives no
// config but its own block's.
func (as *actions) mayReadConfig(cfg *config.Config, a config.Action, c config.Check) bool {
	if as.launcher == nil {
		return false
	}
	sa, err1 := as.spec(cfg, a.Name, a.Plugin, sdk.KindAction, nil)
	sc, err2 := as.spec(cfg, c.Name, c.Plugin, sdk.KindCheck, nil)
	return err1 == nil && err2 == nil && sa.Builtin && sc.Builtin
}

// run runs the action for one failure, with its retries, and applies the
// outcome.
func (as *actions) run(cfg *config.Config, a config.Action, ch track.Change, failure uint64) {
	trig := sdk.Trigger{Check: ch.Check, Node: cfg.Node, Instances: a.Instances, Reason: ch.Message}
	for _, c := range cfg.Checks {
		if c.Name == ch.Check && len(c.Config.JSON) > 0 && as.mayReadConfig(cfg, a, c) {
			json.Unmarshal(c.Config.JSON, &trig.CheckConfig)
		}
	}
	for attempt := 1; attempt <= a.Retries+1; attempt++ {
		p := as.plugin(a.Name) // a reload may have replaced it since the last attempt
		if p == nil {
			break
		}
		as.log.Info("running action for failed check", "action", a.Name, "check", ch.Check, "attempt", attempt)
		out, msg, err := p.Run(context.Background(), trig)
		if err != nil {
			as.log.Error("action failed", "action", a.Name, "error", err, "attempt", attempt, "retries", a.Retries)
			continue
		}
		switch {
		case out == sdk.Recovered:
			as.log.Info("action recovered", "action", a.Name, "message", msg)
			as.awaitRecovery(cfg, a, ch, failure)
		case !as.judge.current(ch.Check, failure):
			// The check passed (or failed anew) while the action ran:
			// this outcome is about a failure that is over.
			as.log.Info("action gave up, but its check is no longer in that failure; not yielding", "action", a.Name, "check", ch.Check, "message", msg)
		case out == sdk.Yield:
			as.log.Warn("action yields", "action", a.Name, "instances", strings.Join(a.Instances, ","), "message", msg)
			as.judge.fail(ch.Check, ch.Message)
			for _, in := range a.Instances {
				as.eng.SetFault(in, fsm.FaultYield, "action "+a.Name, true, fmt.Sprintf("action %s yielded: %s", a.Name, msg))
			}
		}
		return
	}
	// The action could not run: the failure counts as if there were none.
	as.judge.fail(ch.Check, ch.Message)
}

// awaitRecovery gives the check one more run to see what the action
// restored; if it still fails with the same failure, its weight applies.
func (as *actions) awaitRecovery(cfg *config.Config, a config.Action, ch track.Change, failure uint64) {
	var grace time.Duration
	for _, c := range cfg.Checks {
		if c.Name == ch.Check {
			grace = c.Interval + c.Timeout
		}
	}
	time.AfterFunc(grace, func() {
		if as.judge.current(ch.Check, failure) {
			as.log.Warn("check still failing after its action recovered; applying it", "check", ch.Check, "action", a.Name)
			as.judge.fail(ch.Check, ch.Message)
		}
	})
}

// release lifts the holds of the actions that yielded for check, which
// passes again.
func (as *actions) release(cfg *config.Config, check string) {
	for _, a := range cfg.Actions {
		if a.When != check {
			continue
		}
		for _, in := range a.Instances {
			as.eng.SetFault(in, fsm.FaultYield, "action "+a.Name, false, fmt.Sprintf("check %s passes again", check))
		}
	}
}

// stop ends every action plugin.
func (as *actions) stop() {
	as.mu.Lock()
	defer as.mu.Unlock()
	for _, ra := range as.running {
		ra.plugin.Close()
	}
}
