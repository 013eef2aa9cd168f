// Package engine runs a node's VRRP instances on one event loop, tying the
// pure state machine (core/fsm) to the sockets (core/transport) and to
// what mastership does on the node (its effects: addresses, announcements,
// accept mode rules), and applying policy reloads in place.
package engine

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/firewall"
	"github.com/vigil-ha/vigil/core/route"
	"github.com/vigil-ha/vigil/core/transport"
	"github.com/vigil-ha/vigil/core/vip"
	"github.com/vigil-ha/vigil/core/vrrp"
)

// Options configure an Engine.
type Options struct {
	Log hclog.Logger
	// StateDir holds each effect's record of what this node changed, so
	// that a restart after a crash undoes what the crashed run left.
	StateDir string
	// OnTransition is called on the instance's goroutine for every state
	// change; it must not block.
	OnTransition func(Transition)

	// The kernel, as the engine reaches it; nil means the real one (raw
	// sockets, netlink, packet sockets) in the caller's network namespace.
	Adverts   Adverts
	Addresses Addresses
	Routes    Routes
	Announcer Announcer
	Links     Links
	Firewall  Firewall
	VMACs     VMACs
	// Clock is what signed adverts (auth_hmac) read: nil is the host's.
	// Tests step its wall clock as NTP would.
	Clock *vrrp.Clock
	// Effects are carried out after the engine's own (accept mode rules,
	// addresses, announcements), in this order, on every transition.
	Effects []Effect
}

// Engine runs the instances of one node.
type Engine struct {
	log   hclog.Logger
	env   instanceEnv // what every instance sees of the node
	vips  *vipTable
	nl    Addresses
	links *linkWatch
	addrs *addrWatch
	// routes is the routes effect, which routeWatch asks to put back
	// what others deleted.
	routes     *routeEffect
	routeWatch *routeWatch
	static     statics

	// The loop and what it owns.
	work chan func(now time.Time)
	// pkts holds adverts the loop has not taken yet. 1024 is 200 ms of 255
	// instances hearing two peers at 100 ms, far longer than the loop
	// stalls; a full queue drops and counts.
	pkts      chan packetFor
	quit      chan struct{}
	loopDone  chan struct{}
	timers    deadlines
	instances map[string]*instance
	order     []string
	checks    map[string]checkState // each check's last state, for instances that start later
	syncing   bool                  // carrying a change through a sync group
	shutdown  sync.Once
}

// New returns an engine with no instance running. It opens its netlink
// socket in the caller's network namespace.
func New(opts Options) (*Engine, error) {
	log := opts.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.Addresses == nil {
		nl, err := vip.NewConfigurer()
		if err != nil {
			return nil, err
		}
		opts.Addresses = nl
	}
	if opts.Routes == nil {
		rc, err := route.New()
		if err != nil {
			return nil, err
		}
		opts.Routes = rc
	}
	if opts.Adverts == nil {
		opts.Adverts = poolAdverts{transport.NewPool()}
	}
	if opts.Announcer == nil {
		opts.Announcer = vip.NewAnnouncer()
	}
	if opts.Links == nil {
		opts.Links = netlinkLinks{}
	}
	if opts.Firewall == nil {
		opts.Firewall = &firewall.Tables{Restored: func(err error) {
			if err != nil {
				log.Error("accept mode rules were removed by someone else and could not be put back", "table", "inet "+firewall.Table, "error", err)
				return
			}
			log.Warn("accept mode rules were removed by someone else (nft flush ruleset?); put back", "table", "inet "+firewall.Table)
		}}
	}
	if opts.VMACs == nil {
		opts.VMACs = kernelVMACs{}
	}
	e := &Engine{log: log, nl: opts.Addresses, vips: newVIPTable(opts.Addresses, opts.StateDir, log),
		instances: map[string]*instance{}, checks: map[string]checkState{},
		work: make(chan func(time.Time)), pkts: make(chan packetFor, 1024),
		quit: make(chan struct{}), loopDone: make(chan struct{})}
	e.routes = newRouteEffect(opts.Routes, opts.StateDir, log)
	fx := &effects{log: log, list: append([]Effect{
		newAcceptModeEffect(opts.Firewall, opts.StateDir, log),
		addrEffect{t: e.vips, nl: opts.Addresses},
		e.routes,
		announceEffect{a: opts.Announcer, log: log},
	}, opts.Effects...)}
	e.static.fx = &effects{log: log, list: []Effect{addrEffect{t: e.vips, nl: opts.Addresses}, e.routes}}
	clock := vrrp.SystemClock()
	if opts.Clock != nil {
		clock = *opts.Clock
	}
	e.env = instanceEnv{log: log, now: time.Now, clock: clock, fx: fx, vmacs: newVMACTable(opts.VMACs, opts.StateDir, log),
		adverts: opts.Adverts, peers: heardTable{}, group: e, linkUp: opts.Links.Up,
		deliver: e.deliver, notify: opts.OnTransition, primaryAddr: transport.PrimaryAddr}
	e.links = newLinkWatch(e, opts.Links)
	e.addrs = newAddrWatch(e, opts.Addresses)
	e.routeWatch = newRouteWatch(e, opts.Routes)
	go e.loop()
	return e, nil
}

// Shutdown stops every instance: masters send priority 0 and withdraw
// (RFC 5798 §6.4.3), then sockets close, the loop ends and the effects
// end.
func (e *Engine) Shutdown() { e.shutdown.Do(e.stop) }

func (e *Engine) stop() {
	// Effects that can hand traffic over before the addresses go (BGP
	// withdrawing its routes first) do so now, off the loop.
	for _, fx := range e.env.fx.list {
		if d, ok := fx.(Drainer); ok {
			d.Drain()
		}
	}
	e.links.stop()
	e.addrs.stop()
	e.routeWatch.stop()
	e.do(func(now time.Time) {
		for _, name := range e.order {
			if in, ok := e.instances[name]; ok {
				e.stopInstance(now, in)
			}
		}
		e.logStatic(e.static.release())
	})
	select {
	case <-e.quit:
	default:
		close(e.quit)
	}
	<-e.loopDone
	e.env.fx.close()
	e.vips.release()
	e.nl.Close()
}

// stopInstance stops in on the loop and forgets it.
func (e *Engine) stopInstance(now time.Time, in *instance) {
	in.shutdown(now)
	e.fix(in)
	delete(e.instances, in.cfg.Name)
}
