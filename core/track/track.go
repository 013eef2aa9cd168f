// Package track runs health checks through their plugins: it polls each at
// its interval with its timeout, listens to checks that push results, turns
// results into passing/failing with rise and fall, and reports each change.
// A check whose plugin crashes, hangs or times out counts as failed.
package track

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/sdk"
)

// Counter is rise/fall hysteresis as a pure value. A check starts passing,
// as keepalived's scripts do, or failing (NewCounter, init_fail); Fall
// failures in a row make it failing, Rise successes in a row make it
// passing again.
type Counter struct {
	Rise, Fall int
	failing    bool
	streak     int
}

// NewCounter is a counter in its starting state: failing for init_fail.
func NewCounter(rise, fall int, initFail bool) Counter {
	return Counter{Rise: rise, Fall: fall, failing: initFail}
}

// Observe records one result and reports whether the state changed.
func (c *Counter) Observe(ok bool) (changed bool) {
	if ok != c.failing { // a result agreeing with the state
		c.streak = 0
		return false
	}
	c.streak++
	need := c.Fall
	if c.failing {
		need = c.Rise
	}
	if c.streak < max(need, 1) {
		return false
	}
	c.failing, c.streak = !ok, 0
	return true
}

// Failing is the current state.
func (c *Counter) Failing() bool { return c.failing }

// Checker is what a tracker needs of a check plugin.
type Checker interface {
	Check(ctx context.Context, timeout time.Duration) (sdk.Result, error)
	CanWatch() bool
	Watch(ctx context.Context, report func(sdk.Result)) error
}

// Change is a check changing state.
type Change struct {
	Check   string
	Failing bool
	Message string
	Value   *int64 // the number a valued check read (sdk.Result.Value)
}

// FlapHold is the shortest time between two changes a check reports. The
// first change after a quiet spell is reported at once (nginx dying still
// moves the address in milliseconds); a check flipping faster, pushed by a
// broken or hostile plugin thousands of times a second, has its later
// changes held until FlapHold has passed since the last one reported, and
// then only its state at that moment counts. Priority changes, adverts,
// actions and log lines caused by one check are bounded by it.
var FlapHold = time.Second

// Tracker runs one check.
type Tracker struct {
	cfg      config.Check
	c        Checker
	log      hclog.Logger
	onChange func(Change)

	mu       sync.Mutex
	counter  Counter
	last     string
	lastLog  time.Time
	reported bool      // failing, as last reported
	value    *int64    // a valued check's latest number
	repValue *int64    // and as last reported
	at       time.Time // when it was reported
	held     *time.Timer
	heldMsg  string // message of the latest result agreeing with the state
	flips    int    // changes held back since the last report
	stopped  bool
}

// New returns a tracker; Run starts it.
func New(cfg config.Check, c Checker, log hclog.Logger, onChange func(Change)) *Tracker {
	return &Tracker{cfg: cfg, c: c, log: log, onChange: onChange, counter: NewCounter(cfg.Rise, cfg.Fall, cfg.InitFail), reported: cfg.InitFail}
}

// Failing reports the check's current state.
func (t *Tracker) Failing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counter.Failing()
}

// observe feeds one result (from a poll or a push) through rise/fall.
func (t *Tracker) observe(r sdk.Result, err error, via string) {
	ok := err == nil && r.Healthy
	msg := r.Message
	if err != nil {
		msg = err.Error()
	}
	now := time.Now()
	t.mu.Lock()
	changed := t.counter.Observe(ok)
	if ok && !sameValue(r.Value, t.value) {
		t.value, changed = r.Value, true
	}
	if msg != t.last && now.Sub(t.lastLog) >= time.Second {
		t.log.Debug("check result", "check", t.cfg.Name, "healthy", ok, "message", msg, "via", via)
		t.last, t.lastLog = msg, now
	}
	if ok != t.counter.Failing() { // the latest word on the current state
		t.heldMsg = msg
	}
	if !changed {
		t.mu.Unlock()
		return
	}
	if wait := FlapHold - now.Sub(t.at); !t.at.IsZero() && wait > 0 {
		t.flips++
		if t.held == nil {
			t.held = time.AfterFunc(wait, func() { t.release(via) })
		}
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.report(now, via)
}

// release reports the state a flapping check settled in once its hold is
// over, if that differs from what was reported last.
func (t *Tracker) release(via string) {
	t.mu.Lock()
	t.held = nil
	if t.stopped {
		t.mu.Unlock()
		return
	}
	if t.flips > 1 {
		t.log.Warn("check is flapping; its changes are held", "check", t.cfg.Name, "changes", t.flips, "hold", FlapHold)
	}
	t.flips = 0
	t.mu.Unlock()
	t.report(time.Now(), via)
}

// stop drops a held change: a stopped check reports nothing more.
func (t *Tracker) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	if t.held != nil {
		t.held.Stop()
	}
}

// report tells onChange the check's current state unless already told.
func (t *Tracker) report(now time.Time, via string) {
	t.mu.Lock()
	failing, msg, value := t.counter.Failing(), t.heldMsg, t.value
	if failing == t.reported && sameValue(value, t.repValue) || t.stopped {
		t.mu.Unlock()
		return
	}
	newState := failing != t.reported
	t.reported, t.repValue, t.at = failing, value, now
	t.mu.Unlock()
	switch {
	case failing:
		t.log.Warn("check failed", "check", t.cfg.Name, "message", msg, "via", via)
	case newState:
		t.log.Info("check succeeded", "check", t.cfg.Name, "message", msg, "via", via)
	default:
		t.log.Info("check value changed", "check", t.cfg.Name, "value", *value, "message", msg, "via", via)
	}
	t.onChange(Change{Check: t.cfg.Name, Failing: failing, Message: msg, Value: value})
}

func sameValue(a, b *int64) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

// Run polls the check every interval and, if its plugin pushes results,
// listens to them as well, until ctx ends.
func (t *Tracker) Run(ctx context.Context) {
	defer t.stop()
	go t.watch(ctx)
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		r, err := t.c.Check(ctx, t.cfg.Timeout)
		if ctx.Err() != nil {
			return
		}
		t.observe(r, err, "poll")
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// watch keeps a push stream open while the plugin offers one; when the
// stream breaks (the plugin died) it tries again after a pause, and polling
// goes on meanwhile.
func (t *Tracker) watch(ctx context.Context) {
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		if t.c.CanWatch() {
			start := time.Now()
			err := t.c.Watch(ctx, func(r sdk.Result) { t.observe(r, nil, "push") })
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				// A broken stream is a failed check: the plugin is gone.
				t.observe(sdk.Result{}, fmt.Errorf("push stream lost: %w", err), "push")
			}
			if time.Since(start) > time.Minute {
				pause = 100 * time.Millisecond
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(pause*2, t.cfg.Interval+time.Second)
	}
}
