package engine

import (
	"testing"
	"time"
)

// TestWaker: the timerfd waker fires once per arming, not before its
// deadline, at once for a deadline already past, and re-arming drops an
// earlier deadline.
func TestWaker(t *testing.T) {
	w := newWaker()
	defer w.Close()
	if w.f == nil {
		t.Fatal("no timerfd: the waker fell back to a runtime timer")
	}
	wait := func(limit time.Duration) (time.Duration, bool) {
		start := time.Now()
		select {
		case <-w.C:
			return time.Since(start), true
		case <-time.After(limit):
			return limit, false
		}
	}

	w.Reset(30 * time.Millisecond)
	if took, ok := wait(2 * time.Second); !ok || took < 29*time.Millisecond {
		t.Errorf("armed for 30ms: fired=%v after %v", ok, took)
	}
	if _, ok := wait(100 * time.Millisecond); ok {
		t.Error("fired twice for one arming")
	}

	w.Reset(-time.Second)
	if took, ok := wait(2 * time.Second); !ok || took > 50*time.Millisecond {
		t.Errorf("a past deadline: fired=%v after %v", ok, took)
	}

	w.Reset(20 * time.Millisecond)
	w.Reset(time.Hour) // the first deadline no longer holds
	if _, ok := wait(150 * time.Millisecond); ok {
		t.Error("fired at a deadline replaced by a later one")
	}
}

// TestAlive: the watchdog's probe answers while the loop runs and says no
// once it has stopped.
func TestAlive(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	if !r.e.Alive(time.Second) {
		t.Fatal("a running loop did not answer")
	}
	r.e.do(func(time.Time) { time.Sleep(100 * time.Millisecond) }) // busy, then free
	hold := make(chan struct{})
	go r.e.do(func(time.Time) { <-hold }) // the loop is stuck in this
	time.Sleep(20 * time.Millisecond)
	if r.e.Alive(50 * time.Millisecond) {
		t.Error("a stuck loop answered")
	}
	close(hold)
	r.e.Shutdown()
	if r.e.Alive(time.Second) {
		t.Error("a stopped loop answered")
	}
}
