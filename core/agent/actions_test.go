package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/pluginhost"
	"github.com/vigil-ha/vigil/core/track"
	"github.com/vigil-ha/vigil/sdk"
)

// fakeEngine records what checks and actions do to instances.
type fakeEngine struct {
	mu     sync.Mutex
	checks map[string]bool
	faults map[string]bool
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{checks: map[string]bool{}, faults: map[string]bool{}}
}

func (f *fakeEngine) SetCheckValue(check string, value int64, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks[check] = value != 0
}

func (f *fakeEngine) SetCheck(check string, failing bool, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks[check] = failing
}

func (f *fakeEngine) ClearCheck(check string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.checks, check)
}

func (f *fakeEngine) SetFault(name string, r fsm.FaultReason, source string, on bool, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[name+"/"+source] = on
	return nil
}

func (f *fakeEngine) fault(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.faults[key]
}

func (f *fakeEngine) failing(check string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checks[check]
}

type allBuiltin struct{}

func (allBuiltin) Has(string) bool { return true }

// fakeAction is an action plugin whose runs the test controls: each run
// takes its time, counts overlaps, and a run in progress ends with an error
// when the plugin is closed, as a go-plugin process killed under a call.
type fakeAction struct {
	outcome             sdk.Outcome
	hold                time.Duration
	running, most, runs atomic.Int32
	closed              chan struct{}
	closeOnce           sync.Once
}

func newFakeAction(outcome sdk.Outcome, hold time.Duration) *fakeAction {
	return &fakeAction{outcome: outcome, hold: hold, closed: make(chan struct{})}
}

func (a *fakeAction) Run(context.Context, sdk.Trigger) (sdk.Outcome, string, error) {
	n := a.running.Add(1)
	defer a.running.Add(-1)
	a.runs.Add(1)
	for m := a.most.Load(); n > m && !a.most.CompareAndSwap(m, n); m = a.most.Load() {
	}
	select {
	case <-time.After(a.hold):
		return a.outcome, "gave up", nil
	case <-a.closed:
		return "", "", errors.New("plugin closed")
	}
}

func (a *fakeAction) Close() { a.closeOnce.Do(func() { close(a.closed) }) }

func (a *fakeAction) isClosed() bool {
	select {
	case <-a.closed:
		return true
	default:
		return false
	}
}

// rig is the checks and actions of one node on a fake engine; opened
// lists the action plugins started, in order.
type rig struct {
	eng    *fakeEngine
	cs     *checks
	mu     sync.Mutex
	opened []*fakeAction
	next   func() *fakeAction
}

func newRig(next func() *fakeAction) *rig {
	r := &rig{eng: newFakeEngine(), next: next}
	l := &launcher{log: hclog.NewNullLogger(), self: "/proc/self/exe", builtins: allBuiltin{}}
	acts := newActions(l, r.eng)
	acts.open = func(pluginhost.Spec) (actionPlugin, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		a := r.next()
		r.opened = append(r.opened, a)
		return a, nil
	}
	r.cs = newChecks(l, r.eng, acts)
	return r
}

// config is a node with check web, action restart (yielding VI_1) and
// the action's timeout, which a reload may change.
func actionConfig(timeout time.Duration, retries int) *config.Config {
	return &config.Config{
		Node:      "n1",
		Checks:    []config.Check{{Name: "web", Plugin: "http-probe", Interval: time.Second, Timeout: time.Second}},
		Actions:   []config.Action{{Name: "restart", Plugin: "nginx-action", When: "web", Instances: []string{"VI_1"}, Timeout: timeout, Retries: retries}},
		Instances: []config.Instance{{Name: "VI_1", Track: []config.TrackCheck{{Check: "web", Weight: -20}}}},
	}
}

// applyActions applies cfg's actions and registers check web as running
// (a real check would start a plugin process).
func (r *rig) applyActions(t *testing.T, cfg *config.Config) {
	t.Helper()
	r.cs.mu.Lock()
	r.cs.cfg = cfg
	if r.cs.running["web"] == nil {
		r.cs.running["web"] = &runningCheck{cfg: cfg.Checks[0]}
	}
	r.cs.mu.Unlock()
	if d := r.cs.acts.apply(cfg); d.HasErrors() {
		t.Fatal(d.Error())
	}
}

func (r *rig) waitIdle(t *testing.T) {
	t.Helper()
	waitUntil(t, "the action to end", func() bool {
		r.cs.acts.mu.Lock()
		defer r.cs.acts.mu.Unlock()
		return len(r.cs.acts.busy) == 0
	})
}

// waitUntil polls ok, every 2 ms for at most 5 s, and fails the test if
// it never holds.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 5s waiting for %s", what)
		}
	}
}

// A check failing over and over while its action runs starts one run at a
// time; the failures that came meanwhile are served by one more run, and
// the action's yield applies to the failure that is current.
func TestActionRunsOneAtATime(t *testing.T) {
	act := newFakeAction(sdk.Yield, 50*time.Millisecond)
	r := newRig(func() *fakeAction { return act })
	r.applyActions(t, actionConfig(time.Second, 0))
	for range 200 {
		r.cs.changed(track.Change{Check: "web", Failing: true, Message: "down"})
	}
	r.waitIdle(t)
	if m := act.most.Load(); m != 1 {
		t.Errorf("%d runs of the action at once, want 1", m)
	}
	if n := act.runs.Load(); n != 2 {
		t.Errorf("%d runs for 200 failures during a run, want 2 (the first, then the latest)", n)
	}
	if !r.eng.fault("VI_1/action restart") || !r.eng.failing("web") {
		t.Error("the yield of the current failure was not applied")
	}
}

// A reload that leaves an action as it was keeps its process: a run in
// progress is not cut off.
func TestReloadKeepsUnchangedAction(t *testing.T) {
	r := newRig(func() *fakeAction { return newFakeAction(sdk.Recovered, 100*time.Millisecond) })
	r.applyActions(t, actionConfig(time.Second, 0))
	r.cs.changed(track.Change{Check: "web", Failing: true})
	r.mu.Lock()
	running := r.opened[0]
	r.mu.Unlock()
	waitUntil(t, "the run to be under way", func() bool { return running.runs.Load() > 0 })
	r.applyActions(t, actionConfig(time.Second, 0))
	r.waitIdle(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.opened) != 1 || r.opened[0].isClosed() {
		t.Errorf("an unchanged action was relaunched (%d processes, first closed %v)", len(r.opened), r.opened[0].isClosed())
	}
	if r.eng.failing("web") {
		t.Error("a recovered run was cut off and its failure applied")
	}
}

// A reload that changes an action while it runs: the old process is
// closed under the run, and the run's retry uses the new process, whose
// outcome applies (it used to retry on the closed one and apply the
// failure as if there were no action).
func TestRunningActionMovesToRelaunchedPlugin(t *testing.T) {
	r := newRig(func() *fakeAction { return newFakeAction(sdk.Yield, 20*time.Millisecond) })
	r.applyActions(t, actionConfig(time.Second, 1))
	r.mu.Lock()
	first := r.opened[0]
	first.hold = time.Hour // the first process never answers by itself
	r.mu.Unlock()
	r.cs.changed(track.Change{Check: "web", Failing: true})
	waitUntil(t, "the first process to be running", func() bool { return first.runs.Load() > 0 })
	r.applyActions(t, actionConfig(2*time.Second, 1)) // changed: relaunched
	r.waitIdle(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.opened) != 2 || !first.isClosed() {
		t.Fatalf("a changed action was not relaunched (%d processes)", len(r.opened))
	}
	if r.opened[1].runs.Load() != 1 {
		t.Errorf("the retry ran on the new process %d times, want 1", r.opened[1].runs.Load())
	}
	if !r.eng.fault("VI_1/action restart") {
		t.Error("the new process's yield was not applied")
	}
}

// TestActionReadsOnlyBuiltinChecksConfig: a built-in action is given a
// built-in check's config (nginx-action follows nginx-process's pid_file);
// a third-party action, or one whose check is a third-party plugin, gets
// none: no plugin receives another block's config.
func TestActionReadsOnlyBuiltinChecksConfig(t *testing.T) {
	as := newActions(&launcher{log: hclog.NewNullLogger(), self: "/proc/self/exe", builtins: allBuiltin{}}, newFakeEngine())
	third := config.Plugin{Name: "mine", Path: "/usr/lib/vigil/plugins/mine"}
	for _, tc := range []struct {
		name          string
		action, check string
		want          bool
	}{
		{"built-in action, built-in check", "nginx-action", "nginx-process", true},
		{"third-party action", "mine", "nginx-process", false},
		{"third-party check", "nginx-action", "mine", false},
	} {
		cfg := &config.Config{Plugins: []config.Plugin{third}}
		a := config.Action{Name: "restart", Plugin: tc.action}
		c := config.Check{Name: "nginx", Plugin: tc.check}
		if got := as.mayReadConfig(cfg, a, c); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
