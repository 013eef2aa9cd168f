package fsm_test

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/fsm"
)

// FuzzMachine drives a machine with an arbitrary sequence of events and checks
// the invariants the engine relies on: VIPs are added only when not held and
// removed only when held, they are held exactly while Master, a Master or
// Backup always has a timer running, and every state change is announced.
func FuzzMachine(f *testing.F) {
	f.Add(uint8(2), uint8(100), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(uint8(3), uint8(255), []byte{9, 3, 3, 7, 1, 0, 5, 5, 2})
	f.Add(uint8(3), uint8(1), []byte{0, 0, 0, 6, 6, 6, 7, 7, 8})
	f.Fuzz(func(t *testing.T, ver, prio uint8, events []byte) {
		if prio == 0 {
			prio = 1
		}
		cfg := v2(prio)
		if ver%2 == 1 {
			cfg = v3(prio, 100*ms)
		}
		cfg.Preempt = ver&4 == 0
		if ver&8 != 0 {
			cfg.PreemptDelay = 2 * time.Second
		}
		m := fsm.New(cfg)
		now := t0
		held := false
		state := m.State()
		for i, e := range events {
			now = now.Add(time.Duration(e) * 37 * ms)
			var as []fsm.Action
			switch e % 10 {
			case 0:
				as = m.Start(now)
			case 1, 2:
				as = m.Tick(now)
			case 3:
				as = m.Advert(now, fsm.Advert{Src: upper, Priority: e, Interval: time.Second})
			case 4:
				as = m.Advert(now, fsm.Advert{Src: lower, Priority: e / 2, Interval: 100 * ms})
			case 5:
				as = m.SetPriority(now, e|1)
			case 6:
				as = m.SetFault(now, fsm.FaultReason(1<<(e%4)), e&16 != 0, "fuzz")
			case 7:
				if d := m.Deadline(); !d.IsZero() {
					now = d
				}
				as = m.Tick(now)
			case 8:
				as = m.Shutdown(now)
			case 9:
				if e&128 != 0 {
					as = m.SyncMaster(now, "fuzz")
				} else if e&32 != 0 {
					as = m.Resign(now, "fuzz")
				} else {
					as = m.Advert(now, fsm.Advert{Src: upper, Priority: 0, Interval: time.Second})
				}
			}
			m.SetSuccessor(e&64 != 0) // applies to the next advert, as the engine does
			for _, a := range as {
				switch a.Kind {
				case fsm.AddVIPs:
					if held {
						t.Fatalf("event %d: add-vips while holding them", i)
					}
					held = true
				case fsm.RemoveVIPs:
					if !held {
						t.Fatalf("event %d: remove-vips without holding them", i)
					}
					held = false
				case fsm.Transition:
					if a.From != state {
						t.Fatalf("event %d: transition from %v, but was %v", i, a.From, state)
					}
					state = a.To
				case fsm.SendAdvert:
					if a.Priority != 0 && m.State() != fsm.Master {
						t.Fatalf("event %d: advert with priority %d outside Master", i, a.Priority)
					}
				}
			}
			if state != m.State() {
				t.Fatalf("event %d: state %v not announced (last announced %v)", i, m.State(), state)
			}
			if held != (state == fsm.Master) {
				t.Fatalf("event %d: VIPs held=%v in %v", i, held, state)
			}
			if (state == fsm.Master || state == fsm.Backup) && m.Deadline().IsZero() {
				t.Fatalf("event %d: %v with no timer running", i, state)
			}
			if m.Deadline().Before(now) && !m.Deadline().IsZero() && (e%10 == 1 || e%10 == 2 || e%10 == 7) {
				t.Fatalf("event %d: timer at %v still due after Tick(%v)", i, m.Deadline(), now)
			}
		}
	})
}
