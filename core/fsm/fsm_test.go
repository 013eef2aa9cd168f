package fsm_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/vrrp"
)

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	us    = netip.MustParseAddr("192.0.2.21")
	lower = netip.MustParseAddr("192.0.2.20")
	upper = netip.MustParseAddr("192.0.2.22")
	ms    = time.Millisecond
)

func v2(prio uint8) fsm.Config {
	return fsm.Config{Version: vrrp.V2, Priority: prio, Interval: time.Second, Preempt: true, PrimaryAddr: us, GARPDelay: 5 * time.Second}
}

func v3(prio uint8, interval time.Duration) fsm.Config {
	c := v2(prio)
	c.Version, c.Interval = vrrp.V3, interval
	return c
}

// step is one event at an offset from t0 and the actions it must produce.
type step struct {
	at    time.Duration
	event func(m *fsm.Machine, now time.Time) []fsm.Action
	want  string // actions joined by spaces
	state fsm.State
}

func start() func(*fsm.Machine, time.Time) []fsm.Action {
	return func(m *fsm.Machine, now time.Time) []fsm.Action { return m.Start(now) }
}
func tick() func(*fsm.Machine, time.Time) []fsm.Action {
	return func(m *fsm.Machine, now time.Time) []fsm.Action { return m.Tick(now) }
}
func advert(src netip.Addr, prio uint8, interval time.Duration) func(*fsm.Machine, time.Time) []fsm.Action {
	return func(m *fsm.Machine, now time.Time) []fsm.Action {
		return m.Advert(now, fsm.Advert{Src: src, Priority: prio, Interval: interval})
	}
}
func prio(p uint8) func(*fsm.Machine, time.Time) []fsm.Action {
	return func(m *fsm.Machine, now time.Time) []fsm.Action { return m.SetPriority(now, p) }
}
func fault(r fsm.FaultReason, on bool) func(*fsm.Machine, time.Time) []fsm.Action {
	return func(m *fsm.Machine, now time.Time) []fsm.Action { return m.SetFault(now, r, on, "test fault") }
}
func syncMaster() func(*fsm.Machine, time.Time) []fsm.Action {
	return func(m *fsm.Machine, now time.Time) []fsm.Action { return m.SyncMaster(now, "test sync") }
}

func resign() func(*fsm.Machine, time.Time) []fsm.Action {
	return func(m *fsm.Machine, now time.Time) []fsm.Action { return m.Resign(now, "test resign") }
}

// successorAdvert delivers an advert as the engine does for an instance
// the site policy names as the sender's successor.
func successorAdvert(src netip.Addr, prio uint8) func(*fsm.Machine, time.Time) []fsm.Action {
	return func(m *fsm.Machine, now time.Time) []fsm.Action {
		m.SetSuccessor(true)
		return m.Advert(now, fsm.Advert{Src: src, Priority: prio, Interval: time.Second})
	}
}

func becomeMasterAt(p uint8) string { return fmt.Sprintf(becomeMaster, p) }

func shutdown() func(*fsm.Machine, time.Time) []fsm.Action {
	return func(m *fsm.Machine, now time.Time) []fsm.Action { return m.Shutdown(now) }
}

func render(as []fsm.Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

const becomeMaster = "BACKUP->MASTER add-vips send-advert(%d) send-gratuitous"

func TestMachine(t *testing.T) {
	// v2, priority 100: skew (256-100)/256 s = 609.375ms, master down 3.609375s.
	// v3 100ms, priority 100: skew 60.9375ms, master down 360.9375ms.
	const v2Down = 3609375 * time.Microsecond
	const v3Down = 360937500 * time.Nanosecond
	cases := []struct {
		name  string
		cfg   fsm.Config
		steps []step
	}{
		{"§6.4.1 startup: non-owner enters Backup", v2(100), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
		}},
		{"standalone (BGP health mode): Master at startup, no advert, no announcement, no election", func() fsm.Config { c := v3(100, 100*ms); c.Standalone = true; return c }(), []step{
			{0, start(), "INIT->MASTER add-vips", fsm.Master},
			{time.Second, tick(), "", fsm.Master},
			{time.Second, advert(upper, 200, 100*ms), "", fsm.Master},
			{2 * time.Second, resign(), "", fsm.Master},
			{2 * time.Second, prio(50), "", fsm.Master},
			{3 * time.Second, fault(fsm.FaultCheck, true), "remove-vips MASTER->FAULT", fsm.Fault},
			{4 * time.Second, fault(fsm.FaultCheck, false), "FAULT->MASTER add-vips", fsm.Master},
			{5 * time.Second, shutdown(), "remove-vips MASTER->INIT", fsm.Init},
		}},
		{"§6.4.1 startup: owner (255) enters Master at once", v2(255), []step{
			{0, start(), "INIT->MASTER add-vips send-advert(255) send-gratuitous", fsm.Master},
		}},
		{"§6.4.2 v2 Master_Down_Timer = 3×1s + (256-100)/256s fires → Master", v2(100), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{v2Down - 1, tick(), "", fsm.Backup},
			{v2Down, tick(), "BACKUP->MASTER add-vips send-advert(100) send-gratuitous", fsm.Master},
		}},
		{"§6.1 v3 skew uses the interval: 100ms at priority 100", v3(100, 100*ms), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{v3Down - 1, tick(), "", fsm.Backup},
			{v3Down, tick(), "BACKUP->MASTER add-vips send-advert(100) send-gratuitous", fsm.Master},
		}},
		{"§6.4.2 higher-priority advert resets Master_Down_Timer", v2(80), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{3 * time.Second, advert(upper, 100, time.Second), "", fsm.Backup},
			{4 * time.Second, tick(), "", fsm.Backup},
			{6*time.Second + 3*time.Second + 691406250, tick(), "BACKUP->MASTER add-vips send-advert(80) send-gratuitous", fsm.Master},
		}},
		{"§6.4.2 priority 0 from master: take over after Skew_Time", v2(80), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, advert(upper, 100, time.Second), "", fsm.Backup},
			{2 * time.Second, advert(upper, 0, time.Second), "", fsm.Backup},
			// skew at 80 = 176/256 s = 687.5ms
			{2*time.Second + 687500*time.Microsecond - 1, tick(), "", fsm.Backup},
			{2*time.Second + 687500*time.Microsecond, tick(), "BACKUP->MASTER add-vips send-advert(80) send-gratuitous", fsm.Master},
		}},
		{"§6.4.2 preempt: lower master's adverts discarded, take over at Master_Down", v2(100), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, advert(lower, 80, time.Second), "", fsm.Backup},
			{2 * time.Second, advert(lower, 80, time.Second), "", fsm.Backup},
			{v2Down, tick(), "BACKUP->MASTER add-vips send-advert(100) send-gratuitous", fsm.Master},
		}},
		{"§6.4.2 nopreempt: lower master keeps the address", func() fsm.Config { c := v2(100); c.Preempt = false; return c }(), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{3 * time.Second, advert(lower, 80, time.Second), "", fsm.Backup},
			{6 * time.Second, advert(lower, 80, time.Second), "", fsm.Backup},
			{9 * time.Second, tick(), "", fsm.Backup},
		}},
		{"§6.4.2 equal priority in Backup is accepted, not preempted", v2(100), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{3 * time.Second, advert(lower, 100, time.Second), "", fsm.Backup},
			{6 * time.Second, tick(), "", fsm.Backup},
		}},
		{"preempt_delay: lower master kept until the delay runs out", func() fsm.Config { c := v2(100); c.PreemptDelay = 10 * time.Second; return c }(), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{3 * time.Second, advert(lower, 80, time.Second), "", fsm.Backup},
			{6 * time.Second, advert(lower, 80, time.Second), "", fsm.Backup},
			{8 * time.Second, tick(), "", fsm.Backup}, // without the hold-off this would preempt
			{9 * time.Second, advert(lower, 80, time.Second), "", fsm.Backup},
			{10 * time.Second, advert(lower, 80, time.Second), "", fsm.Backup}, // delay over: discarded
			{9*time.Second + v2Down, tick(), "BACKUP->MASTER add-vips send-advert(100) send-gratuitous", fsm.Master},
		}},
		{"§6.4.2 v3 backup learns the master's interval", v3(100, 100*ms), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{100 * ms, advert(upper, 200, time.Second), "", fsm.Backup},
			{time.Second, tick(), "", fsm.Backup}, // 100ms timer would have fired
			// 3×1s + 156/256×1s = 3.609375s after the advert
			{100*ms + v2Down, tick(), "BACKUP->MASTER add-vips send-advert(100) send-gratuitous", fsm.Master},
		}},
		{"§6.4.3 master sends an advert every interval", v2(255), []step{
			{0, start(), "INIT->MASTER add-vips send-advert(255) send-gratuitous", fsm.Master},
			{999 * ms, tick(), "", fsm.Master},
			{time.Second, tick(), "send-advert(255)", fsm.Master},
			{2 * time.Second, tick(), "send-advert(255)", fsm.Master},
		}},
		{"§6.4.3 master hears higher priority: steps down, removes VIPs", v2(255), []step{
			{0, start(), "INIT->MASTER add-vips send-advert(255) send-gratuitous", fsm.Master},
			{500 * ms, prio(80), "send-advert(80)", fsm.Master},
			{time.Second, advert(upper, 100, time.Second), "remove-vips MASTER->BACKUP send-advert(0 to 192.0.2.22)", fsm.Backup},
		}},
		{"§6.4.3 master hears lower priority (split brain healed): keeps master, re-advertises and re-announces, once per interval", v2(255), []step{
			{0, start(), "INIT->MASTER add-vips send-advert(255) send-gratuitous", fsm.Master},
			{500 * ms, advert(upper, 100, time.Second), "send-advert(255) send-gratuitous", fsm.Master},
			{600 * ms, advert(upper, 100, time.Second), "", fsm.Master}, // a flood of them is answered once
			{900 * ms, advert(upper, 100, time.Second), "", fsm.Master},
			{1400 * ms, tick(), "", fsm.Master}, // advert timer was reset at 500ms
			{1500 * ms, tick(), "send-advert(255)", fsm.Master},
			{1600 * ms, advert(upper, 100, time.Second), "send-advert(255) send-gratuitous", fsm.Master},
		}},
		{"§6.4.3 equal priority: the higher address wins", v2(100), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{v2Down, tick(), "BACKUP->MASTER add-vips send-advert(100) send-gratuitous", fsm.Master},
			{4 * time.Second, advert(lower, 100, time.Second), "send-advert(100) send-gratuitous", fsm.Master},
			{4100 * ms, advert(upper, 100, time.Second), "remove-vips MASTER->BACKUP send-advert(0 to 192.0.2.22)", fsm.Backup},
		}},
		{"§6.4.3 master hears priority 0 (another master stepped down for it): advertises and re-announces at once, once per interval", v2(255), []step{
			{0, start(), "INIT->MASTER add-vips send-advert(255) send-gratuitous", fsm.Master},
			{300 * ms, advert(upper, 0, time.Second), "send-advert(255) send-gratuitous", fsm.Master},
			{400 * ms, advert(upper, 0, time.Second), "", fsm.Master},
		}},
		{"§6.4.3 shutdown as master: priority 0, VIPs removed", v2(255), []step{
			{0, start(), "INIT->MASTER add-vips send-advert(255) send-gratuitous", fsm.Master},
			{time.Second, shutdown(), "send-advert(0) remove-vips MASTER->INIT", fsm.Init},
			{2 * time.Second, tick(), "", fsm.Init},
		}},
		{"§6.4.2 shutdown as backup: timers stop", v2(100), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, shutdown(), "BACKUP->INIT", fsm.Init},
			{10 * time.Second, tick(), "", fsm.Init},
		}},
		{"startup delay: Init until it runs out", func() fsm.Config { c := v2(100); c.StartupDelay = 2 * time.Second; return c }(), []step{
			{0, start(), "", fsm.Init},
			{time.Second, advert(upper, 200, time.Second), "", fsm.Init},
			{2 * time.Second, tick(), "INIT->BACKUP", fsm.Backup},
		}},
		{"yield: master resigns with priority 0 and releases VIPs; rejoins as backup", v2(255), []step{
			{0, start(), "INIT->MASTER add-vips send-advert(255) send-gratuitous", fsm.Master},
			{time.Second, fault(fsm.FaultYield, true), "send-advert(0) remove-vips MASTER->FAULT", fsm.Fault},
			{2 * time.Second, advert(upper, 100, time.Second), "", fsm.Fault},
			{5 * time.Second, tick(), "", fsm.Fault},
			{6 * time.Second, fault(fsm.FaultYield, false), "FAULT->MASTER add-vips send-advert(255) send-gratuitous", fsm.Master},
		}},
		{"fault needs every reason cleared", v2(100), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, fault(fsm.FaultInterface, true), "BACKUP->FAULT", fsm.Fault},
			{time.Second, fault(fsm.FaultCheck, true), "", fsm.Fault},
			{2 * time.Second, fault(fsm.FaultInterface, false), "", fsm.Fault},
			{3 * time.Second, fault(fsm.FaultCheck, false), "FAULT->BACKUP", fsm.Backup},
			{3*time.Second + v2Down, tick(), "BACKUP->MASTER add-vips send-advert(100) send-gratuitous", fsm.Master},
		}},
		{"fault raised before startup starts in Fault", v2(100), []step{
			{0, fault(fsm.FaultInterface, true), "", fsm.Init},
			{0, start(), "INIT->FAULT", fsm.Fault},
		}},
		{"garp_master_delay: second burst 5s after becoming master", v2(255), []step{
			{0, start(), "INIT->MASTER add-vips send-advert(255) send-gratuitous", fsm.Master},
			{5 * time.Second, tick(), "send-advert(255) send-gratuitous", fsm.Master},
			{10 * time.Second, tick(), "send-advert(255)", fsm.Master},
		}},
		{"garp_master_refresh repeats while master", func() fsm.Config { c := v2(255); c.GARPDelay = 0; c.GARPRefresh = 3 * time.Second; return c }(), []step{
			{0, start(), "INIT->MASTER add-vips send-advert(255) send-gratuitous", fsm.Master},
			{3 * time.Second, tick(), "send-advert(255) send-gratuitous", fsm.Master},
			{6 * time.Second, tick(), "send-advert(255) send-gratuitous", fsm.Master},
		}},
		{"handover: a degraded master resigns and waits a full Master_Down_Interval", v2(255), []step{
			{0, start(), "INIT->MASTER add-vips send-advert(255) send-gratuitous", fsm.Master},
			{time.Second, prio(75), "send-advert(75)", fsm.Master},
			{time.Second, resign(), "send-advert(0) remove-vips MASTER->BACKUP", fsm.Backup},
			// skew at 75 = 181/256 s; master down 3.70703125s, not skew time
			{time.Second + 707031250, tick(), "", fsm.Backup},
			{time.Second + 1500*ms, advert(upper, 80, time.Second), "", fsm.Backup},
			{time.Second + 1500*ms + 3707031250, tick(), "BACKUP->MASTER add-vips send-advert(75) send-gratuitous", fsm.Master},
		}},
		{"handover: resign is a no-op outside Master", v2(100), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, resign(), "", fsm.Backup},
		}},
		{"handover: successor takes over at once on priority 0", v2(80), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, advert(upper, 100, time.Second), "", fsm.Backup},
			{2 * time.Second, successorAdvert(upper, 0), becomeMasterAt(80), fsm.Master},
		}},
		{"handover: successor preempts at once a master whose priority fell below it", v2(80), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, successorAdvert(upper, 100), "", fsm.Backup},
			{2 * time.Second, successorAdvert(upper, 75), becomeMasterAt(80), fsm.Master},
		}},
		{"handover: a successor waits for a lower master it never saw higher (start-up)", v2(80), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, successorAdvert(upper, 75), "", fsm.Backup},
			{2 * time.Second, successorAdvert(upper, 75), "", fsm.Backup},
		}},
		{"handover: a successor with nopreempt still waits for a lower master", func() fsm.Config { c := v2(80); c.Preempt = false; return c }(), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, successorAdvert(upper, 100), "", fsm.Backup},
			{2 * time.Second, successorAdvert(upper, 75), "", fsm.Backup},
			{5 * time.Second, tick(), "", fsm.Backup},
		}},
		{"sync group: a backup follows a member into Master at once", v2(80), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, advert(upper, 100, time.Second), "", fsm.Backup},
			{2 * time.Second, syncMaster(), becomeMasterAt(80), fsm.Master},
			{2 * time.Second, syncMaster(), "", fsm.Master},
		}},
		{"sync group: a member in Fault does not follow into Master", v2(80), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, fault(fsm.FaultSync, true), "BACKUP->FAULT", fsm.Fault},
			{2 * time.Second, syncMaster(), "", fsm.Fault},
			{3 * time.Second, fault(fsm.FaultSync, false), "FAULT->BACKUP", fsm.Backup},
		}},
		{"priority change as backup is silent", v2(100), []step{
			{0, start(), "INIT->BACKUP", fsm.Backup},
			{time.Second, prio(75), "", fsm.Backup},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := fsm.New(c.cfg)
			for i, s := range c.steps {
				got := render(s.event(m, t0.Add(s.at)))
				if got != s.want {
					t.Fatalf("step %d at %v: actions %q, want %q", i, s.at, got, s.want)
				}
				if m.State() != s.state {
					t.Fatalf("step %d at %v: state %v, want %v", i, s.at, m.State(), s.state)
				}
			}
		})
	}
}

func TestTimers(t *testing.T) {
	cases := []struct {
		cfg        fsm.Config
		skew, down time.Duration
	}{
		{v2(100), 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{v2(254), 7812500, 3007812500},
		{v2(1), 996093750, 3996093750},
		{func() fsm.Config { c := v2(100); c.Interval = 2 * time.Second; return c }(), 609375 * time.Microsecond, 6609375 * time.Microsecond},
		{v3(100, time.Second), 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{v3(100, 100*ms), 60937500, 360937500},
		{v3(254, 10*ms), 78125, 30078125},
	}
	for _, c := range cases {
		m := fsm.New(c.cfg)
		if got := m.SkewTime(); got != c.skew {
			t.Errorf("v%d prio %d int %v: skew %v, want %v", c.cfg.Version, c.cfg.Priority, c.cfg.Interval, got, c.skew)
		}
		if got := m.MasterDownInterval(); got != c.down {
			t.Errorf("v%d prio %d int %v: master down %v, want %v", c.cfg.Version, c.cfg.Priority, c.cfg.Interval, got, c.down)
		}
	}
}

func TestDeadline(t *testing.T) {
	m := fsm.New(v2(100))
	if !m.Deadline().IsZero() {
		t.Fatal("a machine not started has a deadline")
	}
	m.Start(t0)
	if got, want := m.Deadline(), t0.Add(m.MasterDownInterval()); !got.Equal(want) {
		t.Fatalf("deadline %v, want %v", got, want)
	}
	m.Tick(m.Deadline())
	if got, want := m.Deadline(), t0.Add(m.MasterDownInterval()+time.Second); !got.Equal(want) {
		t.Fatalf("master deadline %v, want next advert at %v", got, want)
	}
}

func TestTransitionReasons(t *testing.T) {
	m := fsm.New(v2(80))
	m.Start(t0)
	m.Tick(t0.Add(10 * time.Second))
	as := m.Advert(t0.Add(11*time.Second), fsm.Advert{Src: upper, Priority: 100, Interval: time.Second})
	want := "received advert with higher priority 100, ours 80"
	var got string
	for _, a := range as {
		if a.Kind == fsm.Transition {
			got = a.Reason
		}
	}
	if got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
	if a, p := m.Master(); a != upper || p != 100 {
		t.Errorf("master %v %d, want %v 100", a, p, upper)
	}
	m2 := fsm.New(v2(100))
	m2.Start(t0)
	m2.Advert(t0.Add(time.Second), fsm.Advert{Src: lower, Priority: 80, Interval: time.Second})
	as = m2.Tick(t0.Add(10 * time.Second))
	if want := "preempting lower priority master 80, ours 100"; as[0].Reason != want {
		t.Errorf("reason %q, want %q", as[0].Reason, want)
	}
}
