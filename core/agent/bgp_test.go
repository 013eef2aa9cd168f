package agent

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/bgp"
	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/engine"
	"github.com/vigil-ha/vigil/core/vip"
)

// fakeSpeaker records what the effect tells the speaker.
type fakeSpeaker struct{ last []bgp.Route }

func (f *fakeSpeaker) Set(d bgp.Desired)  { f.last = d.Routes }
func (f *fakeSpeaker) Status() bgp.Status { return bgp.Status{} }
func (f *fakeSpeaker) Stop(time.Duration) {}

func mastership(in *config.Instance, prio uint8, addrs ...string) engine.Mastership {
	m := engine.Mastership{Instance: in, Priority: prio}
	for _, a := range addrs {
		m.Addrs = append(m.Addrs, vip.Addr{Prefix: netip.MustParsePrefix(a), Interface: "lo"})
	}
	return m
}

func prefixes(rs []bgp.Route) []string {
	var out []string
	for _, r := range bgp.Sorted(rs) {
		out = append(out, fmt.Sprintf("%v %03d", r.Prefix, r.MED))
	}
	return out
}

// TestBGPEffect: host routes of what masters hold, MED from the effective
// priority in health mode (0 in master mode), withdrawn with the
// mastership; with damping, a route withdrawn comes back only once the
// damping time has passed, and a withdrawal is never held back.
func TestBGPEffect(t *testing.T) {
	now := time.Unix(1000, 0)
	sp := &fakeSpeaker{}
	e := newBGPEffect("", hclog.NewNullLogger())
	e.now = func() time.Time { return now }
	e.speaker, e.runner = &bgp.Speaker{ASN: 65001, Damping: 5 * time.Second}, sp
	health := &config.Instance{Name: "VI_20", BGP: "health"}
	master := &config.Instance{Name: "VI_1", BGP: "master"}
	vrrpOnly := &config.Instance{Name: "VI_9"}

	e.Assert(mastership(health, 100, "203.0.113.20/32"))
	e.Assert(mastership(master, 100, "192.0.2.10/24"))
	e.Assert(mastership(vrrpOnly, 100, "192.0.2.99/24"))
	if got := prefixes(sp.last); len(got) != 2 || got[0] != "192.0.2.10/32 000" || got[1] != "203.0.113.20/32 155" {
		t.Fatalf("announced %v", got)
	}
	e.Assert(mastership(health, 150, "203.0.113.20/32")) // a priority change
	if got := prefixes(sp.last); got[1] != "203.0.113.20/32 105" {
		t.Errorf("after the priority change: %v", got)
	}
	e.Withdraw(mastership(health, 150, "203.0.113.20/32"))
	if got := prefixes(sp.last); len(got) != 1 {
		t.Errorf("after the withdrawal: %v", got)
	}
	now = now.Add(time.Second)
	e.Assert(mastership(health, 150, "203.0.113.20/32")) // flaps back at once: held back
	if got := prefixes(sp.last); len(got) != 1 {
		t.Errorf("re-announced inside the damping time: %v", got)
	}
	now = now.Add(5 * time.Second)
	e.mu.Lock()
	e.push() // what the damping timer does
	e.mu.Unlock()
	if got := prefixes(sp.last); len(got) != 2 {
		t.Errorf("not re-announced after the damping time: %v", got)
	}
	if e.retry != nil {
		e.retry.Stop()
	}

	// The agent stops: health-mode routes go first, and the addresses
	// stay for the graceful shutdown time; master-mode ones follow VRRP.
	e.speaker.GracefulShutdown = time.Second
	var slept time.Duration
	e.sleep = func(d time.Duration) { slept = d }
	e.Drain()
	if got := prefixes(sp.last); len(got) != 1 || got[0] != "192.0.2.10/32 000" || slept != time.Second {
		t.Errorf("after Drain: %v, waited %v", got, slept)
	}
}
