package engine

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/vip"
	"github.com/vigil-ha/vigil/core/vrrp"
)

// Apply makes the running instances match cfg. Instances whose settings did
// not change keep running untouched (no transition, no packet lost); an
// instance whose only change is its VIP set updates its addresses in place;
// any other change restarts that instance alone. On error the instances
// already running stay as they were.
func (e *Engine) Apply(cfg *config.Config) error {
	e.links.start()
	e.addrs.start()
	for _, in := range cfg.Instances {
		if len(in.Routes)+len(in.Rules) > 0 {
			e.routeWatch.start()
			break
		}
	}
	if len(cfg.Static.Routes)+len(cfg.Static.Rules) > 0 {
		e.routeWatch.start()
	}
	var err error
	e.do(func(now time.Time) { err = e.apply(now, cfg) })
	return err
}

func (e *Engine) apply(now time.Time, cfg *config.Config) error {
	if err := e.env.fx.policy(cfg); err != nil {
		return err
	}
	e.env.startupDelay, e.env.checkAdvertAddrs = cfg.StartupDelay, cfg.CheckAdvertAddrs
	want := map[string]config.Instance{}
	var order []string
	for _, in := range cfg.Instances {
		want[in.Name] = in
		order = append(order, in.Name)
	}
	e.logStatic(e.static.drop(cfg.Static))
	inPlace, carried := e.stopChanged(now, want)
	e.logStatic(e.static.hold(cfg.Static))
	started, errs := e.newInstances(order, want, carried)
	// Every address is claimed (on record, sockets open) before any
	// instance can add one.
	var claims []Mastership
	for _, m := range inPlace {
		claims = append(claims, m.in.whole())
	}
	for _, in := range started {
		claims = append(claims, in.whole())
	}
	for _, err := range splitJoined(e.env.fx.claim(claims)) {
		e.log.Warn(err.Error(), "effect", effectName(err))
	}
	for _, m := range inPlace {
		m.in.moveVIPs(m.old)
		e.fix(m.in)
	}
	// Each instance starts now, not when this apply began: opening sockets
	// and reading addresses for many instances can take longer than a
	// master-down interval, and a backup's timer must run from when it can
	// hear adverts.
	for _, in := range started {
		now := e.env.now()
		e.knownChecks(now, in)
		if len(in.awaiting) == 0 {
			in.start(now)
		}
		e.fix(in)
	}
	e.order = order
	if len(errs) > 0 {
		return fmt.Errorf("starting instances: %v", errs)
	}
	return nil
}

// vipChange is an instance whose VIP set a reload changes in place, and
// the addresses it had.
type vipChange struct {
	in  *instance
	old []vip.Addr
}

// stopChanged stops the instances that are gone or changed beyond their
// VIPs and authentication, first, so that a VRID or an address moving
// between instances is free when the new one claims it; it takes the new
// VIP set of those whose VIPs changed and returns them, with the
// authentication of those it stopped to restart (its state goes on).
func (e *Engine) stopChanged(now time.Time, want map[string]config.Instance) (inPlace []vipChange, carried map[string]vrrp.Auth) {
	carried = map[string]vrrp.Auth{}
	for _, name := range e.order {
		in, ok := e.instances[name]
		if !ok {
			continue
		}
		nc, keep := want[name]
		switch {
		case !keep:
			e.log.Info(name + " removed from policy, stopping")
			e.stopInstance(now, in)
		case reflect.DeepEqual(in.cfg, nc):
		case sameButNotify(in.cfg, nc):
			in.cfg = nc // whom to tell moves nothing
		case sameButAuth(in.cfg, nc):
			// A key rotation: the next advert is signed with the new key,
			// the sequence and the replay marks go on.
			e.log.Info(name+" authentication changed, applied in place", "auth", nc.AuthName())
			in.cfg = nc
			in.setVIPs(nc)
		case sameButVIPs(in.cfg, nc):
			e.log.Info(name + " VIPs changed, updating in place")
			inPlace = append(inPlace, vipChange{in, slices.Clone(in.vips)})
			in.cfg = nc
			in.setVIPs(nc)
		default:
			e.log.Info(name + " settings changed, restarting it")
			e.stopInstance(now, in)
			carried[name] = in.auth
		}
	}
	return inPlace, carried
}

// newInstances makes, in policy order, the instances not running; they
// start once their addresses are claimed.
func (e *Engine) newInstances(order []string, want map[string]config.Instance, carried map[string]vrrp.Auth) ([]*instance, []error) {
	var started []*instance
	var errs []error
	for _, name := range order {
		if _, running := e.instances[name]; running {
			continue
		}
		in, err := newInstance(&e.env, want[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		in.inheritAuth(carried[name])
		e.instances[name] = in
		started = append(started, in)
	}
	return started, errs
}

// sameButNotify reports whether a and b differ only in whom they tell.
func sameButNotify(a, b config.Instance) bool {
	a.Notify, a.NotifyPriorityChanges, b.Notify, b.NotifyPriorityChanges = nil, false, nil, false
	return reflect.DeepEqual(a, b)
}

// sameButAuth reports whether a and b differ only in how adverts are
// authenticated.
func sameButAuth(a, b config.Instance) bool {
	a.Auth, a.HMAC, b.Auth, b.HMAC = config.Auth{}, nil, config.Auth{}, nil
	return reflect.DeepEqual(a, b)
}

// sameButVIPs reports whether a and b differ only in their VIPs (and
// maybe their authentication).
func sameButVIPs(a, b config.Instance) bool {
	a.VIPs, a.ExcludedVIPs, b.VIPs, b.ExcludedVIPs = nil, nil, nil, nil
	return sameButAuth(a, b)
}

// moveVIPs carries a change of the instance's VIP set, from old, to the
// node: a master withdraws the addresses that went, asserts the new set
// and announces it; every instance's effects forget what went.
func (in *instance) moveVIPs(old []vip.Addr) {
	var gone []vip.Addr
	for _, a := range old {
		if !slices.Contains(in.vips, a) {
			gone = append(gone, a)
		}
	}
	defer in.env.fx.unclaim(in.mastership(gone))
	if in.m.State() != fsm.Master {
		return
	}
	in.logEffects(in.env.fx.withdraw(in.mastership(gone)))
	in.logEffects(in.env.fx.assert(in.whole()))
	logSent := in.announce()
	in.send(in.m.Priority())
	logSent()
}
