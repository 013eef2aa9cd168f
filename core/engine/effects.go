package engine

import (
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/vip"
)

// Mastership is an instance as its effects see it: its settings and the
// addresses it holds as master (its VIPs, then its excluded VIPs, each on
// its interface), or, for Unclaim and an in-place Withdraw, those it gives
// up.
type Mastership struct {
	Instance *config.Instance
	Addrs    []vip.Addr
	// Routes and Rules are the instance's (keepalived's virtual_routes and
	// virtual_rules) when it takes or leaves mastership as a whole; none
	// when only addresses change.
	Routes []config.Route
	Rules  []config.Rule
	// Priority is the instance's effective priority now (a BGP route's
	// preference in health mode).
	Priority uint8
}

// Name is the instance's name, for effects' logs.
func (m Mastership) Name() string { return m.Instance.Name }

// An Effect is one thing being master means on this node: the addresses
// on their interfaces, the gratuitous ARP/NA that moves them, tomorrow a
// route or a BGP announcement. The engine calls every effect registered at
// New, in their order, on the loop:
//
//   - Policy at each apply, before any instance starts (an error aborts
//     the apply and the running instances stay as they were);
//   - Claim once per apply, for every instance it starts or whose
//     addresses it changes in place, never on a takeover's path: check,
//     record (once for them all), open sockets;
//   - Assert when it becomes master, then Announce (and again on each
//     gratuitous ARP refresh); Withdraw, in reverse order, when it stops
//     being master;
//   - Unclaim for addresses it no longer uses (it stopped, or a reload
//     dropped them), and Close once at the engine's clean stop.
//
// Assert and Withdraw are idempotent: a master whose addresses change in
// place is asserted again with the whole new set. Each effect keeps its
// own record in the state directory and has its own recovery (the
// recoveries list in recover.go). Errors are joined, and the engine logs
// each with the effect's name; one effect failing never stops the others.
type Effect interface {
	Name() string
	Policy(cfg *config.Config) error
	Claim(ms []Mastership) error
	Assert(m Mastership) error
	Announce(m Mastership) error
	Withdraw(m Mastership) error
	Unclaim(m Mastership)
	Close() error
}

// A Drainer is an effect that, at the engine's clean stop and before any
// instance stops, moves traffic away from the node by other means than
// the addresses (BGP withdrawing its routes), and waits for it to have
// moved. The engine calls Drain off the loop: it may take a while.
type Drainer interface {
	Drain()
}

// effects is the engine's port: the registered effects, in order.
type effects struct {
	list []Effect
	log  hclog.Logger
}

// each runs f for every effect in order (or reverse order) and joins what
// failed, each error naming its effect.
func (fx *effects) each(reverse bool, f func(Effect) error) error {
	list := fx.list
	if reverse {
		list = slices.Clone(list)
		slices.Reverse(list)
	}
	var errs []error
	for _, e := range list {
		if err := f(e); err != nil {
			errs = append(errs, effectError{e.Name(), err})
		}
	}
	return errors.Join(errs...)
}

func (fx *effects) policy(cfg *config.Config) error {
	return fx.each(false, func(e Effect) error { return e.Policy(cfg) })
}
func (fx *effects) claim(ms []Mastership) error {
	return fx.each(false, func(e Effect) error { return e.Claim(ms) })
}
func (fx *effects) assert(m Mastership) error {
	return fx.each(false, func(e Effect) error { return e.Assert(m) })
}
func (fx *effects) announce(m Mastership) error {
	return fx.each(false, func(e Effect) error { return e.Announce(m) })
}
func (fx *effects) withdraw(m Mastership) error {
	return fx.each(true, func(e Effect) error { return e.Withdraw(m) })
}
func (fx *effects) unclaim(m Mastership) {
	for _, e := range fx.list {
		e.Unclaim(m)
	}
}

// close ends every effect, in reverse order, and logs what failed.
func (fx *effects) close() {
	for _, err := range splitJoined(fx.each(true, Effect.Close)) {
		fx.log.Error("cannot end an effect cleanly", "effect", effectName(err), "error", errors.Unwrap(err))
	}
}

// effectError is one effect's failure.
type effectError struct {
	effect string
	err    error
}

func (e effectError) Error() string { return fmt.Sprintf("%s: %v", e.effect, e.err) }
func (e effectError) Unwrap() error { return e.err }

func effectName(err error) string {
	var fe effectError
	if errors.As(err, &fe) {
		return fe.effect
	}
	return ""
}

// splitJoined lists the errors errors.Join put together, each on its own
// (one log line per failed address or effect); nil gives none.
func splitJoined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			var fe effectError
			if errors.As(e, &fe) {
				for _, inner := range splitJoined(fe.err) {
					out = append(out, effectError{fe.effect, inner})
				}
				continue
			}
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []error{err}
}

// addrEffect puts an instance's addresses on their interfaces as master
// and takes them off (through the vipTable, which removes only what this
// run added).
type addrEffect struct {
	t  *vipTable
	nl Addresses
}

func (addrEffect) Name() string                { return "addresses" }
func (addrEffect) Policy(*config.Config) error { return nil }
func (addrEffect) Announce(Mastership) error   { return nil }
func (addrEffect) Close() error                { return nil } // the table is released after the announcer closes

// Claim opens the interfaces' netlink handles now, not at the takeover,
// and records the addresses (one write for them all) before any can be
// added.
func (a addrEffect) Claim(ms []Mastership) error {
	var errs []error
	for _, m := range ms {
		for _, ifname := range interfaces(m.Addrs) {
			if err := a.nl.Prepare(ifname); err != nil {
				errs = append(errs, fmt.Errorf("%s cannot prepare %s for its VIPs; tried again at the takeover: %w", m.Name(), ifname, err))
			}
		}
		a.t.claim(m.Name(), m.Addrs)
	}
	a.t.commit()
	return errors.Join(errs...)
}

func (a addrEffect) Assert(m Mastership) error {
	var errs []error
	for _, addr := range m.Addrs {
		if err := a.t.add(m.Name(), addr); err != nil {
			errs = append(errs, fmt.Errorf("cannot add VIP %s on %s: %w", addr.Prefix, addr.Interface, err))
		}
	}
	return errors.Join(errs...)
}

func (a addrEffect) Withdraw(m Mastership) error {
	var errs []error
	for _, addr := range m.Addrs {
		if err := a.t.remove(addr); err != nil {
			errs = append(errs, fmt.Errorf("cannot remove VIP %s on %s: %w", addr.Prefix, addr.Interface, err))
		}
	}
	return errors.Join(errs...)
}

func (a addrEffect) Unclaim(m Mastership) { a.t.unclaim(m.Addrs) }

// interfaces lists the interfaces of addrs, each once, in order.
func interfaces(addrs []vip.Addr) []string {
	var out []string
	for _, a := range addrs {
		if !slices.Contains(out, a.Interface) {
			out = append(out, a.Interface)
		}
	}
	return out
}

// announceEffect sends the gratuitous ARP / unsolicited NA that moves the
// addresses to this node.
type announceEffect struct {
	a   Announcer
	log hclog.Logger
}

func (announceEffect) Name() string                { return "announcements" }
func (announceEffect) Policy(*config.Config) error { return nil }
func (announceEffect) Assert(Mastership) error     { return nil }
func (announceEffect) Withdraw(Mastership) error   { return nil }
func (announceEffect) Unclaim(Mastership)          {}
func (e announceEffect) Close() error              { e.a.Close(); return nil }

// Claim opens the packet sockets now, not at the takeover.
func (e announceEffect) Claim(ms []Mastership) error {
	var errs []error
	seen := map[string]bool{}
	for _, m := range ms {
		if m.Instance.Standalone() {
			continue // its addresses are announced over BGP, not ARP
		}
		for _, a := range m.Addrs {
			v6 := a.Prefix.Addr().Is6()
			key := fmt.Sprintf("%s/%v", a.Interface, v6)
			if seen[key] {
				continue
			}
			seen[key] = true
			if err := e.a.Prepare(a.Interface, v6); err != nil {
				errs = append(errs, fmt.Errorf("%s cannot prepare %s for announcements; tried again at the takeover: %w", m.Name(), a.Interface, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Announce sends the burst, or starts it when it is paced: paced bursts
// must not hold up adverts, and report their own failure.
func (e announceEffect) Announce(m Mastership) error {
	g := m.Instance.GARP
	addrs := slices.Clone(m.Addrs)
	if g.Interval > 0 || g.NAInterval > 0 {
		go func() {
			if err := e.a.Burst(addrs, g.MasterRepeat, g.Interval, g.NAInterval); err != nil {
				e.log.Warn(m.Name()+" gratuitous ARP/NA failed", "error", err)
			}
		}()
		return nil
	}
	if err := e.a.Burst(addrs, g.MasterRepeat, g.Interval, g.NAInterval); err != nil {
		return fmt.Errorf("gratuitous ARP/NA failed: %w", err)
	}
	return nil
}
