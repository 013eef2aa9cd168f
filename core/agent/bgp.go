package agent

import (
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/bgp"
	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/engine"
)

// speakerProc is the speaker process as the effect drives it (bgp.Runner).
type speakerProc interface {
	Set(bgp.Desired)
	Status() bgp.Status
	Stop(timeout time.Duration)
}

// speakerBinary is where the package installs the BGP speaker.
const speakerBinary = "/usr/lib/vigil/vigil-bgp"

// speakerPath finds the speaker: beside the agent's binary (a build
// tree), else where the package puts it.
func speakerPath(self string) string {
	if self != "" {
		p := filepath.Join(filepath.Dir(self), "vigil-bgp")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return speakerBinary
}

// bgpEffect announces, over BGP, the addresses of the masters of
// instances with bgp = "master" (an effect on the engine's port): the
// speaker, a process of its own started only while the policy has a BGP
// speaker for this node, is told the whole set of routes after every
// change.
type bgpEffect struct {
	path string
	log  hclog.Logger

	mu      sync.Mutex
	speaker *bgp.Speaker
	user    string
	runner  speakerProc
	held    map[string]map[netip.Prefix]bgp.Route // by instance
	health  map[string]bool                       // instances in health mode
	// sent is what the speaker was last told to announce; withdrawn is
	// when each prefix last left it, for the damping.
	sent      map[netip.Prefix]bool
	withdrawn map[netip.Prefix]time.Time
	retry     *time.Timer // a push held back by the damping
	now       func() time.Time
	// draining: the agent is stopping; health-mode routes are withdrawn
	// while their addresses stay a moment longer.
	draining bool
	sleep    func(time.Duration)
}

func newBGPEffect(path string, log hclog.Logger) *bgpEffect {
	return &bgpEffect{path: path, log: log.Named("bgp"), held: map[string]map[netip.Prefix]bgp.Route{}, health: map[string]bool{},
		sent: map[netip.Prefix]bool{}, withdrawn: map[netip.Prefix]time.Time{}, now: time.Now, sleep: time.Sleep}
}

func (*bgpEffect) Name() string                     { return "bgp" }
func (*bgpEffect) Claim([]engine.Mastership) error  { return nil }
func (*bgpEffect) Announce(engine.Mastership) error { return nil }
func (*bgpEffect) Unclaim(engine.Mastership)        {}

// announces reports whether m's master announces its addresses.
func announces(m engine.Mastership) bool { return m.Instance.BGP != "" }

// med is the route's preference: lower is preferred, so a higher
// effective priority gives a lower MED and equal priorities an equal one
// (ECMP). In master mode one node announces at a time: 0.
func med(m engine.Mastership) uint32 {
	if m.Instance.Standalone() {
		return uint32(255 - int(m.Priority))
	}
	return 0
}

// Policy starts the speaker when the node has one and stops it when a
// reload takes it away; the speaker's settings go out with the routes.
func (e *bgpEffect) Policy(cfg *config.Config) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.speaker, e.user = cfg.BGP, cfg.PluginUser
	switch {
	case cfg.BGP != nil && e.runner == nil:
		e.log.Info("starting the BGP speaker", "asn", cfg.BGP.ASN, "router_id", cfg.BGP.RouterID, "peers", len(cfg.BGP.Peers))
		e.runner = bgp.Start(e.path, cfg.PluginUser, "", e.log)
	case cfg.BGP == nil && e.runner != nil:
		e.log.Info("stopping the BGP speaker: the policy has none for this node")
		go e.runner.Stop(5 * time.Second) // off the loop: it waits for the withdrawals
		e.sent = map[netip.Prefix]bool{}
		e.runner = nil
	}
	e.push()
	return nil
}

// Assert adds the master's addresses as host routes.
func (e *bgpEffect) Assert(m engine.Mastership) error {
	if !announces(m) {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	set := e.held[m.Name()]
	if set == nil {
		set = map[netip.Prefix]bgp.Route{}
		e.held[m.Name()] = set
	}
	e.health[m.Name()] = m.Instance.Standalone()
	for _, a := range m.Addrs {
		p := bgp.HostRoute(a.Prefix.Addr())
		set[p] = bgp.Route{Prefix: p, MED: med(m), Instance: m.Name()}
	}
	e.push()
	return nil
}

// Withdraw takes the addresses' routes away.
func (e *bgpEffect) Withdraw(m engine.Mastership) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	set := e.held[m.Name()]
	if set == nil {
		return nil
	}
	for _, a := range m.Addrs {
		delete(set, bgp.HostRoute(a.Prefix.Addr()))
	}
	if len(set) == 0 {
		delete(e.held, m.Name())
	}
	e.push()
	return nil
}

// Drain, at the agent's stop, withdraws the health-mode routes and waits
// the speaker's graceful shutdown time before the instances stop and
// their addresses go: routers move the traffic to the other nodes while
// this one still serves what is in flight. Master-mode routes follow
// their VRRP handover.
func (e *bgpEffect) Drain() {
	e.mu.Lock()
	e.draining = true
	had := len(e.sent)
	e.push()
	wait := time.Duration(0)
	if e.speaker != nil && len(e.sent) < had {
		wait = e.speaker.GracefulShutdown
		e.log.Info("withdrew the health-mode routes; stopping once routers have moved traffic away", "wait", wait)
	}
	e.mu.Unlock()
	e.sleep(wait)
}

// Close stops the speaker; masters have withdrawn by then, so what it
// withdraws at its stop is what is left.
func (e *bgpEffect) Close() error {
	e.mu.Lock()
	r := e.runner
	e.runner = nil
	e.mu.Unlock()
	if r != nil {
		r.Stop(5 * time.Second)
	}
	return nil
}

// push tells the speaker the whole state; e.mu is held. A route withdrawn
// less than the damping time ago is announced again only once that time
// has passed: a flapping check moves it at most once per damping time.
// Withdrawals are never held back.
func (e *bgpEffect) push() {
	if e.runner == nil || e.speaker == nil {
		return
	}
	now := e.now()
	d := bgp.Desired{Speaker: *e.speaker}
	var wait time.Duration
	want := map[netip.Prefix]bool{}
	for name, set := range e.held {
		if e.draining && e.health[name] {
			continue
		}
		for p, r := range set {
			if !e.sent[p] {
				if left := e.speaker.Damping - now.Sub(e.withdrawn[p]); left > 0 {
					if wait == 0 || left < wait {
						wait = left
					}
					continue
				}
			}
			want[p] = true
			d.Routes = append(d.Routes, r)
		}
	}
	for p := range e.sent {
		if !want[p] {
			e.withdrawn[p] = now
		}
	}
	e.sent = want
	e.runner.Set(d)
	if wait > 0 && e.retry == nil {
		e.retry = time.AfterFunc(wait, func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.retry = nil
			e.push()
		})
	}
}

// status is the speaker's last reports; nil when it does not run.
func (e *bgpEffect) status() *bgp.Status {
	e.mu.Lock()
	r := e.runner
	e.mu.Unlock()
	if r == nil {
		return nil
	}
	st := r.Status()
	return &st
}
