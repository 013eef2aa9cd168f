package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/core/track"
	"github.com/vigil-ha/vigil/sdk"
)

// fakeEngine records what the plugins do to instances.
type fakeEngine struct {
	mu     sync.Mutex
	checks map[string]bool
	faults map[string]bool
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{checks: map[string]bool{}, faults: map[string]bool{}}
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

// slowAction takes its time and counts how many runs overlap.
type slowAction struct {
	running, most, runs atomic.Int32
	outcome             sdk.Outcome
}

func (a *slowAction) Run(context.Context, sdk.Trigger) (sdk.Outcome, string, error) {
	n := a.running.Add(1)
	defer a.running.Add(-1)
	a.runs.Add(1)
	for {
		m := a.most.Load()
		if n <= m || a.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(50 * time.Millisecond)
	return a.outcome, "gave up", nil
}
func (a *slowAction) Close() {}

// A check failing over and over while its action runs starts one run at a
// time; the failures that came meanwhile are served by one more run, and
// the action's yield applies to the failure that is current.
func TestActionRunsOneAtATime(t *testing.T) {
	eng := newFakeEngine()
	act := &slowAction{outcome: sdk.Yield}
	cfg := &policy.Config{
		Node:      "n1",
		Checks:    []policy.Check{{Name: "web", Interval: time.Second, Timeout: time.Second}},
		Actions:   []policy.Action{{Name: "restart", When: "web", Instances: []string{"VI_1"}}},
		Instances: []policy.Instance{{Name: "VI_1", Track: []policy.TrackCheck{{Check: "web", Weight: -20}}}},
	}
	ps := &plugins{log: hclog.NewNullLogger(), eng: eng, cfg: cfg,
		checks:  map[string]*runningCheck{"web": {cfg: cfg.Checks[0]}},
		actions: map[string]actionPlugin{"restart": act}, busy: map[string]*actionRun{}}
	for range 200 {
		ps.changed(track.Change{Check: "web", Failing: true, Message: "down"})
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ps.mu.Lock()
		idle := len(ps.busy) == 0
		ps.mu.Unlock()
		if idle {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := act.most.Load(); m != 1 {
		t.Errorf("%d runs of the action at once, want 1", m)
	}
	if n := act.runs.Load(); n != 2 {
		t.Errorf("%d runs for 200 failures during a run, want 2 (the first, then the latest)", n)
	}
	if !eng.fault("VI_1/action restart") {
		t.Error("the yield of the current failure was not applied")
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if !eng.checks["web"] {
		t.Error("the yielded check's failure was not handed to the engine")
	}
}
