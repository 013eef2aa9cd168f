package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/engine"
	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/notify"
	"github.com/vigil-ha/vigil/core/pluginhost"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/core/track"
	"github.com/vigil-ha/vigil/sdk"
)

// Builtins tells the agent which plugins are compiled into this binary.
type Builtins interface {
	Has(name string) bool
}

// instances is what the plugins need of the engine: checks and actions
// weigh on instances or hold them in FAULT.
type instances interface {
	SetCheck(check string, failing bool, why string)
	ClearCheck(check string)
	SetFault(name string, r fsm.FaultReason, source string, on bool, why string) error
}

// actionPlugin is a running action plugin.
type actionPlugin interface {
	Run(ctx context.Context, t sdk.Trigger) (sdk.Outcome, string, error)
	Close()
}

// plugins runs the policy's checks, actions and notifiers for one node.
type plugins struct {
	log      hclog.Logger
	eng      instances
	self     string // this binary, re-executed for built-ins
	builtins Builtins
	stateDir string

	// mu guards checks, actions and cfg; it is held while calling into the
	// engine. Notifiers have their own lock, which the engine's transition
	// hook may take: the two never nest.
	mu      sync.Mutex
	cfg     *policy.Config
	checks  map[string]*runningCheck
	actions map[string]actionPlugin
	// busy holds the actions running now: one run of an action at a time;
	// a failure arriving meanwhile waits for it (the latest one only).
	busy map[string]*actionRun

	nmu       sync.Mutex
	ncfg      *policy.Config
	notifiers map[string]*runningNotifier
	seq       atomic.Uint64

	// Transitions wait here for the dispatcher, so that the instance
	// goroutine reporting one never waits for a disk.
	emu    sync.Mutex
	events []engine.Transition
	ewake  chan struct{}
}

type runningCheck struct {
	cfg     policy.Check
	plugin  *pluginhost.Plugin
	tracker *track.Tracker
	failing bool // as the tracker last reported
	cancel  context.CancelFunc
	// failures counts the check's failures; an action's outcome applies
	// only to the failure it was run for.
	failures uint64
}

type runningNotifier struct {
	cfg    policy.Notifier
	plugin *pluginhost.Plugin
	queue  *notify.Queue
	cancel context.CancelFunc
}

// spec builds the launch spec of plugin name for a policy block.
func (ps *plugins) spec(cfg *policy.Config, block, name string, kind sdk.Kind, config []byte) (pluginhost.Spec, error) {
	s := pluginhost.Spec{Name: block, Plugin: name, Kind: kind, Config: config, User: cfg.PluginUser, MaxBackoff: cfg.PluginRestartMax}
	for _, p := range cfg.Plugins {
		if p.Name == name && p.Path == "" && ps.builtins.Has(name) {
			s.User, s.PassEnv = p.User, p.PassEnv // a built-in's options
			break
		}
		if p.Name == name {
			s.Path, s.Args, s.SHA256, s.User, s.PassEnv = p.Path, p.Args, p.SHA256, p.User, p.PassEnv
			return s, nil
		}
	}
	if !ps.builtins.Has(name) {
		return s, fmt.Errorf("%s %q uses plugin %q, which is not built into this vigil and not declared in a plugin block", kind, block, name)
	}
	s.Path, s.Args, s.Builtin = ps.self, []string{"plugin", name}, true
	return s, nil
}

// applyNotifiers makes the running notifiers match cfg, before the engine
// starts, so that its first transitions are queued. A notifier whose
// settings are unchanged keeps running and keeps its queue.
func (ps *plugins) applyNotifiers(cfg *policy.Config) hcl.Diagnostics {
	ps.nmu.Lock()
	defer ps.nmu.Unlock()
	ps.ncfg = cfg
	var diags hcl.Diagnostics
	wantN := map[string]policy.Notifier{}
	for _, n := range cfg.Notifiers {
		wantN[n.Name] = n
	}
	for name, rn := range ps.notifiers {
		if n, ok := wantN[name]; !ok || !reflect.DeepEqual(n, rn.cfg) {
			rn.cancel()
			rn.plugin.Close()
			delete(ps.notifiers, name)
		}
	}
	for _, n := range cfg.Notifiers {
		if _, running := ps.notifiers[n.Name]; running {
			continue
		}
		if err := ps.startNotifier(cfg, n); err != nil {
			diags = append(diags, configDiags(sdk.KindNotifier, n.Name, n.Config, err)...)
		}
	}
	return diags
}

// applyChecks makes the running checks and actions match cfg, once the
// engine runs the instances they weigh on. A check whose settings and
// tracking are unchanged keeps running with its rise/fall state, so that a
// reload cannot lift a failing check's weight.
func (ps *plugins) applyChecks(prev, cfg *policy.Config) hcl.Diagnostics {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.cfg = cfg
	var diags hcl.Diagnostics
	// Checks.
	want := map[string]policy.Check{}
	for _, c := range cfg.Checks {
		want[c.Name] = c
	}
	for name, rc := range ps.checks {
		if c, ok := want[name]; !ok || !reflect.DeepEqual(c, rc.cfg) || !sameTracking(prev, cfg, name) {
			rc.cancel()
			rc.plugin.Close()
			ps.eng.ClearCheck(name)
			delete(ps.checks, name)
		}
	}
	for _, c := range cfg.Checks {
		if _, running := ps.checks[c.Name]; running {
			continue
		}
		if err := ps.startCheck(cfg, c); err != nil {
			diags = append(diags, configDiags(sdk.KindCheck, c.Name, c.Config, err)...)
		}
	}
	// Actions: stateless between runs, so simply relaunch changed ones.
	for name, p := range ps.actions {
		p.Close()
		delete(ps.actions, name)
	}
	for _, a := range cfg.Actions {
		s, err := ps.spec(cfg, a.Name, a.Plugin, sdk.KindAction, a.Config.JSON)
		if err == nil {
			s.CallTimeout = a.Timeout
			var p *pluginhost.Plugin
			if p, err = pluginhost.Launch(s, ps.log); err == nil {
				ps.actions[a.Name] = p
			}
		}
		if err != nil {
			diags = append(diags, configDiags(sdk.KindAction, a.Name, a.Config, err)...)
		}
	}
	return diags
}

// sameTracking reports whether check name is tracked by the same instances
// with the same weights in both configurations.
func sameTracking(a, b *policy.Config, name string) bool {
	if a == nil {
		return false
	}
	return reflect.DeepEqual(tracking(a, name), tracking(b, name))
}

func tracking(cfg *policy.Config, check string) map[string]policy.TrackCheck {
	out := map[string]policy.TrackCheck{}
	for _, in := range cfg.Instances {
		for _, t := range in.Track {
			if t.Check == check {
				out[in.Name] = t
			}
		}
	}
	return out
}

func (ps *plugins) startCheck(cfg *policy.Config, c policy.Check) error {
	s, err := ps.spec(cfg, c.Name, c.Plugin, sdk.KindCheck, c.Config.JSON)
	if err != nil {
		return err
	}
	s.CallTimeout = max(c.Timeout, c.Interval)
	p, err := pluginhost.Launch(s, ps.log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := track.New(c, p, ps.log, func(ch track.Change) { ps.changed(ch) })
	ps.checks[c.Name] = &runningCheck{cfg: c, plugin: p, tracker: tr, cancel: cancel}
	// A check starts passing: positive weights apply from the start.
	ps.applyCheck(c.Name, false, "")
	go tr.Run(ctx)
	return nil
}

// changed is called by a tracker when its check changes state. A failing
// check that has recovery actions is handed to them first, and its weight
// or fault waits for their outcome: the seed's script restarted nginx
// before it reported anything, so a restart that works moves nothing.
func (ps *plugins) changed(ch track.Change) {
	ps.mu.Lock()
	cfg := ps.cfg
	var failure uint64
	if rc := ps.checks[ch.Check]; rc != nil {
		rc.failing = ch.Failing
		if ch.Failing {
			rc.failures++
			failure = rc.failures
		}
	}
	ps.mu.Unlock()
	var actions []policy.Action
	for _, a := range cfg.Actions {
		if a.When == ch.Check {
			actions = append(actions, a)
		}
	}
	if ch.Failing {
		if len(actions) == 0 {
			ps.applyCheck(ch.Check, true, ch.Message)
		}
		for _, a := range actions {
			ps.startAction(cfg, a, ch, failure)
		}
		return
	}
	ps.applyCheck(ch.Check, false, ch.Message)
	// Passing again: actions that yielded for this check release their hold.
	for _, a := range actions {
		for _, in := range a.Instances {
			ps.eng.SetFault(in, fsm.FaultYield, "action "+a.Name, false, fmt.Sprintf("check %s passes again", ch.Check))
		}
	}
}

// current reports whether check is still failing with the failure an
// action was run for (not passing again, not failed anew, not removed).
func (ps *plugins) current(check string, failure uint64) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.currentLocked(check, failure)
}

func (ps *plugins) currentLocked(check string, failure uint64) bool {
	rc := ps.checks[check]
	return rc != nil && rc.failures == failure && rc.failing
}

// applyCheck hands a check's state to the engine, which weighs it on the
// instances that track it (core/priority's rules, as for interfaces).
func (ps *plugins) applyCheck(check string, failing bool, msg string) {
	why := fmt.Sprintf("check %s passes: %s", check, msg)
	if failing {
		why = fmt.Sprintf("check %s failed: %s", check, msg)
	}
	ps.eng.SetCheck(check, failing, why)
}

// actionRun is an action running now and the failure waiting for it.
type actionRun struct {
	next *pendingRun
}

type pendingRun struct {
	ch      track.Change
	failure uint64
}

// startAction runs a for the check's failure unless a run of it is under
// way; then the failure waits, and runs next if it is still current.
func (ps *plugins) startAction(cfg *policy.Config, a policy.Action, ch track.Change, failure uint64) {
	ps.mu.Lock()
	if run, busy := ps.busy[a.Name]; busy {
		run.next = &pendingRun{ch, failure}
		ps.mu.Unlock()
		ps.log.Info(fmt.Sprintf("action %s is still running; check %s's new failure waits for it", a.Name, ch.Check))
		return
	}
	run := &actionRun{}
	ps.busy[a.Name] = run
	ps.mu.Unlock()
	go func() {
		for {
			ps.runAction(cfg, a, ch, failure)
			ps.mu.Lock()
			next := run.next
			run.next = nil
			if next == nil || !ps.currentLocked(next.ch.Check, next.failure) {
				delete(ps.busy, a.Name)
				ps.mu.Unlock()
				return
			}
			ps.mu.Unlock()
			ch, failure = next.ch, next.failure
		}
	}()
}

func (ps *plugins) runAction(cfg *policy.Config, a policy.Action, ch track.Change, failure uint64) {
	ps.mu.Lock()
	p := ps.actions[a.Name]
	ps.mu.Unlock()
	if p == nil {
		ps.applyCheck(ch.Check, true, ch.Message)
		return
	}
	trig := sdk.Trigger{Check: ch.Check, Node: cfg.Node, Instances: a.Instances, Reason: ch.Message}
	for _, c := range cfg.Checks {
		if c.Name == ch.Check && len(c.Config.JSON) > 0 {
			json.Unmarshal(c.Config.JSON, &trig.CheckConfig)
		}
	}
	for attempt := 0; attempt <= a.Retries; attempt++ {
		ps.log.Info(fmt.Sprintf("running action %s for failed check %s", a.Name, ch.Check), "attempt", attempt+1)
		out, msg, err := p.Run(context.Background(), trig)
		if err != nil {
			ps.log.Error(fmt.Sprintf("action %s failed", a.Name), "error", err, "attempt", attempt+1, "retries", a.Retries)
			continue
		}
		switch {
		case out == sdk.Recovered:
			ps.log.Info(fmt.Sprintf("action %s recovered: %s", a.Name, msg))
			ps.awaitRecovery(cfg, a, ch, failure)
		case !ps.current(ch.Check, failure):
			// The check passed (or failed anew) while the action ran:
			// this outcome is about a failure that is over.
			ps.log.Info(fmt.Sprintf("action %s gave up, but check %s is no longer in that failure; not yielding", a.Name, ch.Check), "message", msg)
		case out == sdk.Yield:
			ps.log.Warn(fmt.Sprintf("action %s yields %s: %s", a.Name, strings.Join(a.Instances, ", "), msg))
			ps.applyCheck(ch.Check, true, ch.Message)
			for _, in := range a.Instances {
				ps.eng.SetFault(in, fsm.FaultYield, "action "+a.Name, true, fmt.Sprintf("action %s yielded: %s", a.Name, msg))
			}
		}
		return
	}
	// The action could not run: the failure counts as if there were none.
	ps.applyCheck(ch.Check, true, ch.Message)
}

// awaitRecovery gives the check one more run to see what the action
// restored; if it still fails with the same failure, its weight applies.
func (ps *plugins) awaitRecovery(cfg *policy.Config, a policy.Action, ch track.Change, failure uint64) {
	var grace time.Duration
	for _, c := range cfg.Checks {
		if c.Name == ch.Check {
			grace = c.Interval + c.Timeout
		}
	}
	time.AfterFunc(grace, func() {
		if ps.current(ch.Check, failure) {
			ps.log.Warn(fmt.Sprintf("check %s still failing after action %s recovered, applying it", ch.Check, a.Name))
			ps.applyCheck(ch.Check, true, ch.Message)
		}
	})
}

func (ps *plugins) startNotifier(cfg *policy.Config, n policy.Notifier) error {
	s, err := ps.spec(cfg, n.Name, n.Plugin, sdk.KindNotifier, n.Config.JSON)
	if err != nil {
		return err
	}
	// A notifier's own timeouts govern (smtp-notify waits 30s to connect,
	// as keepalived does); the call bound only stops a hung plugin.
	s.CallTimeout = 2 * time.Minute
	p, err := pluginhost.Launch(s, ps.log)
	if err != nil {
		return err
	}
	q, err := notify.Open(filepath.Join(ps.stateDir, "notify"), n.Name, p, ps.log)
	if err != nil {
		p.Close()
		return err
	}
	for {
		cur := ps.seq.Load()
		if q.LastSeq() <= cur || ps.seq.CompareAndSwap(cur, q.LastSeq()) {
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps.notifiers[n.Name] = &runningNotifier{cfg: n, plugin: p, queue: q, cancel: cancel}
	go q.Run(ctx)
	return nil
}

// transition is the engine's hook: it only records the change, on the
// instance's goroutine, for dispatch to return at once.
func (ps *plugins) transition(t engine.Transition) {
	ps.emu.Lock()
	ps.events = append(ps.events, t)
	ps.emu.Unlock()
	select {
	case ps.ewake <- struct{}{}:
	default:
	}
}

// dispatch moves recorded transitions into the notifiers' durable queues,
// in order, until ctx ends.
func (ps *plugins) dispatch(ctx context.Context) {
	for {
		ps.emu.Lock()
		batch := ps.events
		ps.events = nil
		ps.emu.Unlock()
		for _, t := range batch {
			ps.queue(t)
		}
		select {
		case <-ctx.Done():
			return
		case <-ps.ewake:
		}
	}
}

func (ps *plugins) queue(t engine.Transition) {
	ps.nmu.Lock()
	defer ps.nmu.Unlock()
	if ps.ncfg == nil {
		return
	}
	var inst *policy.Instance
	for i := range ps.ncfg.Instances {
		if ps.ncfg.Instances[i].Name == t.Instance {
			inst = &ps.ncfg.Instances[i]
		}
	}
	if inst == nil || len(inst.Notify) == 0 {
		return
	}
	ev := sdk.Event{Seq: ps.seq.Add(1), Site: ps.ncfg.Site, Node: ps.ncfg.Node, RouterID: ps.ncfg.RouterID, Instance: t.Instance,
		From: t.From, To: t.To, Reason: t.Reason, Time: t.At, Priority: int(inst.Priority)}
	for _, v := range inst.VIPs {
		ev.VIPs = append(ev.VIPs, v.Prefix.String())
	}
	for _, name := range inst.Notify {
		if rn := ps.notifiers[name]; rn != nil {
			if err := rn.queue.Push(ev); err != nil {
				ps.log.Error("cannot queue event", "notifier", name, "error", err)
			}
		}
	}
}

// stop ends every plugin.
func (ps *plugins) stop() {
	ps.mu.Lock()
	for _, rc := range ps.checks {
		rc.cancel()
		rc.plugin.Close()
	}
	for _, p := range ps.actions {
		p.Close()
	}
	ps.mu.Unlock()
	ps.nmu.Lock()
	defer ps.nmu.Unlock()
	for _, rn := range ps.notifiers {
		rn.cancel()
		rn.plugin.Close()
	}
}
