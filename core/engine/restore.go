package engine

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/vip"
)

// addrWatch puts back a VIP that someone else removed while its instance
// is master: systemd-networkd or NetworkManager reapplying their
// configuration delete addresses they did not add (keepalived #2479), and
// the service would be gone until the next failover.
type addrWatch struct {
	e    *Engine
	nl   Addresses
	once sync.Once
	done chan struct{}
	// logged holds when each address's restore was last logged: a
	// manager that deletes it again and again gets a line a second.
	logged map[netip.Prefix]time.Time
}

func newAddrWatch(e *Engine, nl Addresses) *addrWatch {
	return &addrWatch{e: e, nl: nl, done: make(chan struct{}), logged: map[netip.Prefix]time.Time{}}
}

// start subscribes once; later calls do nothing.
func (w *addrWatch) start() {
	w.once.Do(func() {
		failed := func(err error) {
			select {
			case <-w.done:
			default:
				w.e.log.Warn("address monitor error; a VIP removed by someone else may not be put back", "error", err)
			}
		}
		removed := func(ifname string, p netip.Prefix) {
			w.e.do(func(now time.Time) { w.restore(now, ifname, p) })
		}
		if err := w.nl.WatchRemoved(w.done, removed, failed); err != nil {
			w.e.log.Error("cannot monitor addresses; a VIP removed by someone else will not be put back", "error", err)
		}
	})
}

func (w *addrWatch) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
}

// restore, on the loop, puts p back on ifname if a master holds it there
// as a VIP, and announces it again. A VIP this node removed itself is no
// longer a master's by the time the event is served.
func (w *addrWatch) restore(now time.Time, ifname string, p netip.Prefix) {
	for _, name := range w.e.order {
		in, ok := w.e.instances[name]
		if !ok || in.m.State() != fsm.Master {
			continue
		}
		for _, a := range in.vips {
			if a.Interface != ifname || a.Prefix != p {
				continue
			}
			one := in.mastership([]vip.Addr{a})
			err := in.env.fx.assert(one)
			if err == nil {
				err = in.env.fx.announce(one)
			}
			in.count("vips_restored")
			w.e.routeWatch.again() // the kernel took the routes using it along, unannounced
			if last, seen := w.logged[p]; !seen || now.Sub(last) >= time.Second {
				w.logged[p] = now
				in.log.Warn(fmt.Sprintf("%s VIP %s was removed from %s by someone else; put back", in.cfg.Name, p, ifname))
			}
			in.logEffects(err)
		}
	}
	for _, a := range staticMastership(w.e.static.held).Addrs {
		if a.Interface == ifname && a.Prefix == p {
			w.e.logStatic(w.e.static.fx.assert(Mastership{Instance: staticInstance, Addrs: []vip.Addr{a}}))
			w.e.routeWatch.again()
			if last, seen := w.logged[p]; !seen || now.Sub(last) >= time.Second {
				w.logged[p] = now
				w.e.log.Warn(fmt.Sprintf("static address %s was removed from %s by someone else; put back", p, ifname))
			}
		}
	}
}

// routeWatch puts back a master's route or rule (virtual_routes,
// virtual_rules) that someone else deleted, as addrWatch does for VIPs.
// Deletions come in bursts (a flushed table, an address gone with the
// routes that used it): one pass over the masters serves a burst.
type routeWatch struct {
	e      *Engine
	nl     Routes
	once   sync.Once
	done   chan struct{}
	kick   chan struct{} // holds one pending pass
	logged map[string]time.Time
}

func newRouteWatch(e *Engine, nl Routes) *routeWatch {
	return &routeWatch{e: e, nl: nl, done: make(chan struct{}), kick: make(chan struct{}, 1), logged: map[string]time.Time{}}
}

// start subscribes once, when the first instance with routes or rules
// runs; later calls do nothing.
func (w *routeWatch) start() {
	w.once.Do(func() {
		failed := func(err error) {
			w.e.log.Warn("route monitor error; a route removed by someone else may not be put back", "error", err)
		}
		if err := w.nl.WatchRemoved(w.done, w.again, failed); err != nil {
			w.e.log.Error("cannot monitor routes; a route removed by someone else will not be put back", "error", err)
			return
		}
		go func() {
			for {
				select {
				case <-w.done:
					return
				case <-w.kick:
					w.e.do(w.restore)
				}
			}
		}()
	})
}

// again asks for a pass over the masters; one pending is enough.
func (w *routeWatch) again() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *routeWatch) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
}

// restore, on the loop, has every master put back its routes and rules.
func (w *routeWatch) restore(now time.Time) {
	for _, name := range w.e.order {
		in, ok := w.e.instances[name]
		if !ok || in.m.State() != fsm.Master || len(in.cfg.Routes)+len(in.cfg.Rules) == 0 {
			continue
		}
		restored, err := w.e.routes.Reassert(in.whole())
		for _, key := range restored {
			in.count("routes_restored")
			if last, seen := w.logged[key]; !seen || now.Sub(last) >= time.Second {
				w.logged[key] = now
				in.log.Warn(fmt.Sprintf("%s %s was removed by someone else; put back", in.cfg.Name, key))
			}
		}
		if err != nil {
			in.logLimited(now, "routes", in.cfg.Name+" "+err.Error())
		}
	}
	restored, err := w.e.routes.Reassert(staticMastership(w.e.static.held))
	for _, key := range restored {
		if last, seen := w.logged[key]; !seen || now.Sub(last) >= time.Second {
			w.logged[key] = now
			w.e.log.Warn(fmt.Sprintf("static %s was removed by someone else; put back", key))
		}
	}
	if err != nil {
		if last, seen := w.logged["static"]; !seen || now.Sub(last) >= time.Second {
			w.logged["static"] = now
			w.e.log.Warn("static " + err.Error())
		}
	}
}
