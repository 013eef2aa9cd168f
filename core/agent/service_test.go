package agent

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeSupervisor struct {
	mu       sync.Mutex
	sent     []string
	interval time.Duration
}

func (f *fakeSupervisor) Notify(s string)                 { f.mu.Lock(); f.sent = append(f.sent, s); f.mu.Unlock() }
func (f *fakeSupervisor) WatchdogInterval() time.Duration { return f.interval }
func (f *fakeSupervisor) count(s string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, x := range f.sent {
		if x == s {
			n++
		}
	}
	return n
}

// TestWatchdogPingsOnlyWhileTheLoopAnswers: the watchdog is fed every half
// interval while the engine's loop answers, and starved while it does not,
// so that systemd restarts an agent whose loop is stuck.
func TestWatchdogPingsOnlyWhileTheLoopAnswers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alive bool
	}{{"loop answers", true}, {"loop stuck", false}} {
		t.Run(tc.name, func(t *testing.T) {
			sup := &fakeSupervisor{interval: 40 * time.Millisecond}
			var asked []time.Duration
			var misses int
			var mu sync.Mutex
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				watchdog(ctx, sup, func(d time.Duration) bool {
					mu.Lock()
					asked = append(asked, d)
					mu.Unlock()
					return tc.alive
				}, func() { mu.Lock(); misses++; mu.Unlock() })
				close(done)
			}()
			time.Sleep(250 * time.Millisecond)
			cancel()
			<-done
			mu.Lock()
			defer mu.Unlock()
			if len(asked) < 3 {
				t.Fatalf("the loop was asked %d times in 250 ms at a 20 ms period", len(asked))
			}
			if asked[0] != 10*time.Millisecond {
				t.Errorf("the loop gets %v to answer, want a quarter of the watchdog interval", asked[0])
			}
			pings := sup.count("WATCHDOG=1")
			if tc.alive && (pings != len(asked) || misses != 0) {
				t.Errorf("%d pings, %d misses for %d answers", pings, misses, len(asked))
			}
			if !tc.alive && (pings != 0 || misses != len(asked)) {
				t.Errorf("a stuck loop: %d pings, %d misses logged", pings, misses)
			}
		})
	}
}

// TestNoWatchdogNoPings: without WATCHDOG_USEC the watchdog returns at once.
func TestNoWatchdogNoPings(t *testing.T) {
	done := make(chan struct{})
	go func() {
		watchdog(context.Background(), &fakeSupervisor{}, func(time.Duration) bool { return true }, func() {})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("the watchdog runs although systemd asked for none")
	}
}

func TestReloadingCarriesTheMonotonicClock(t *testing.T) {
	msg := reloading()
	if !strings.HasPrefix(msg, "RELOADING=1\nMONOTONIC_USEC=") || len(msg) < len("RELOADING=1\nMONOTONIC_USEC=1") {
		t.Errorf("%q", msg)
	}
}
