package track

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/sdk"
)

func TestCounter(t *testing.T) {
	cases := []struct {
		name       string
		rise, fall int
		initFail   bool
		results    string // o = ok, x = failure
		changes    string // state after each result: P passing, F failing
	}{
		{"fall 1: one failure fails", 1, 1, false, "oxo", "PFP"},
		{"fall 3: two failures are not enough", 2, 3, false, "xxoxxx", "PPPPPF"},
		{"rise 2: one success is not enough", 2, 1, false, "xoxoo", "FFFFP"},
		{"a success breaks a failure streak", 1, 2, false, "xoxox", "PPPPP"},
		{"keepalived default rise/fall 1", 1, 1, false, "xxoo", "FFPP"},
		{"zero counts as one", 0, 0, false, "xo", "FP"},
		{"init_fail starts failing until rise successes", 2, 1, true, "oxoo", "FFFP"},
		{"init_fail with rise 1", 1, 1, true, "o", "P"},
	}
	for _, c := range cases {
		ct := NewCounter(c.rise, c.fall, c.initFail)
		got := ""
		for _, r := range c.results {
			ct.Observe(r == 'o')
			if ct.Failing() {
				got += "F"
			} else {
				got += "P"
			}
		}
		if got != c.changes {
			t.Errorf("%s: %s gave %s, want %s", c.name, c.results, got, c.changes)
		}
	}
}

// fakeChecker is a scripted Checker for the scheduling logic; the plugin
// side is tested over real processes in core/pluginhost and the e2e tests.
type fakeChecker struct {
	mu      sync.Mutex
	healthy bool
	err     error
	calls   int
	push    chan sdk.Result
}

func (f *fakeChecker) Check(ctx context.Context, _ time.Duration) (sdk.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return sdk.Result{Healthy: f.healthy, Message: "scripted"}, f.err
}
func (f *fakeChecker) CanWatch() bool { return f.push != nil }
func (f *fakeChecker) Watch(ctx context.Context, report func(sdk.Result)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-f.push:
			report(r)
		}
	}
}

func TestTrackerPollsAndPushes(t *testing.T) {
	f := &fakeChecker{healthy: true, push: make(chan sdk.Result)}
	changes := make(chan Change, 8)
	tr := New(config.Check{Name: "web", Interval: time.Hour, Timeout: time.Second, Rise: 1, Fall: 1}, f, hclog.NewNullLogger(),
		func(c Change) { changes <- c })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Run(ctx)
	// The interval is an hour: only a push can bring this change now.
	f.push <- sdk.Result{Healthy: false, Message: "process exited"}
	select {
	case c := <-changes:
		if !c.Failing || c.Message != "process exited" || c.Check != "web" {
			t.Errorf("change %+v", c)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("pushed failure did not reach the tracker")
	}
	f.push <- sdk.Result{Healthy: true, Message: "back"}
	if c := <-changes; c.Failing {
		t.Errorf("change %+v", c)
	}
}

func TestPluginErrorIsFailure(t *testing.T) {
	f := &fakeChecker{err: errors.New("plugin timed out")}
	changes := make(chan Change, 8)
	tr := New(config.Check{Name: "web", Interval: 10 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 2}, f, hclog.NewNullLogger(),
		func(c Change) { changes <- c })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Run(ctx)
	select {
	case c := <-changes:
		if !c.Failing || c.Message != "plugin timed out" {
			t.Errorf("change %+v", c)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("errors did not fail the check")
	}
	f.mu.Lock()
	if f.calls < 2 {
		t.Errorf("failing after %d calls with fall 2", f.calls)
	}
	f.mu.Unlock()
}

// A plugin pushing pass/fail thousands of times a second: the first change
// is reported at once, the rest are held to one per FlapHold, and the state
// the check settles in is what counts.
func TestFlappingCheckIsHeld(t *testing.T) {
	f := &fakeChecker{healthy: true, push: make(chan sdk.Result)}
	var mu sync.Mutex
	var got []Change
	tr := New(config.Check{Name: "web", Interval: time.Hour, Timeout: time.Second, Rise: 1, Fall: 1}, f, hclog.NewNullLogger(),
		func(c Change) { mu.Lock(); got = append(got, c); mu.Unlock() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Run(ctx)
	start := time.Now()
	for i := range 10000 {
		f.push <- sdk.Result{Healthy: i%2 == 1}
	}
	f.push <- sdk.Result{Healthy: true, Message: "settled passing"}
	flood := time.Since(start)
	deadline := time.Now().Add(FlapHold + 2*time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		last := Change{}
		if n > 0 {
			last = got[n-1]
		}
		mu.Unlock()
		if n >= 2 && !last.Failing && last.Message == "settled passing" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	// 10,001 results in flood: at most one report per hold, plus the first.
	if max := 2 + int((flood+FlapHold+2*time.Second)/FlapHold); len(got) > max || len(got) < 2 {
		t.Fatalf("%d changes reported for 10,001 flips in %v, want 2..%d", len(got), flood, max)
	}
	if !got[0].Failing {
		t.Errorf("first change %+v, want the failure at once", got[0])
	}
	if last := got[len(got)-1]; last.Failing || last.Message != "settled passing" {
		t.Errorf("last change %+v, want the settled state", last)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Failing == got[i-1].Failing {
			t.Errorf("change %d repeats the state before it", i)
		}
	}
}

// TestValueChangesAreReported: a valued check (track_file) reports each new
// number while it stays healthy, and nothing when the number repeats.
func TestValueChangesAreReported(t *testing.T) {
	defer func(h time.Duration) { FlapHold = h }(FlapHold)
	FlapHold = 0
	f := &fakeChecker{healthy: true, push: make(chan sdk.Result)}
	changes := make(chan Change, 8)
	tr := New(config.Check{Name: "drain", Interval: time.Hour, Timeout: time.Second, Rise: 1, Fall: 1}, f, hclog.NewNullLogger(),
		func(c Change) { changes <- c })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Run(ctx)
	val := func(v int64) *int64 { return &v }
	for _, v := range []int64{-100, -100, 0, 7} {
		f.push <- sdk.Result{Healthy: true, Message: "read", Value: val(v)}
	}
	for _, want := range []int64{-100, 0, 7} {
		select {
		case c := <-changes:
			if c.Failing || c.Value == nil || *c.Value != want {
				t.Errorf("change %+v, want value %d", c, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("value %d not reported", want)
		}
	}
	select {
	case c := <-changes:
		t.Errorf("extra change %+v", c)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestInitFail: a check with init_fail starts failing and reports passing
// only after rise successes (keepalived's init_fail).
func TestInitFail(t *testing.T) {
	f := &fakeChecker{healthy: true, push: make(chan sdk.Result)}
	changes := make(chan Change, 8)
	tr := New(config.Check{Name: "web", Interval: time.Hour, Timeout: time.Second, Rise: 2, Fall: 1, InitFail: true}, f, hclog.NewNullLogger(),
		func(c Change) { changes <- c })
	if !tr.Failing() {
		t.Fatal("an init_fail check starts passing")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Run(ctx)
	f.push <- sdk.Result{Healthy: true, Message: "one"}
	f.push <- sdk.Result{Healthy: true, Message: "two"}
	select {
	case c := <-changes:
		if c.Failing {
			t.Errorf("change %+v, want passing", c)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("two successes with rise 2 did not make it pass")
	}
}
