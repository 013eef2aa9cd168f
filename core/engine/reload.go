package engine

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/vip"
)

// Apply makes the running instances match cfg. Instances whose settings did
// not change keep running untouched (no transition, no packet lost); an
// instance whose only change is its VIP set updates its addresses in place;
// any other change restarts that instance alone. On error the instances
// already running stay as they were.
func (e *Engine) Apply(cfg *config.Config) error {
	e.links.start()
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
	// Stop what is gone or changed beyond its VIPs first, so that a VRID
	// or an address moving between instances is free when the new one
	// claims it.
	type moved struct {
		in  *instance
		old []vip.Addr
	}
	var inPlace []moved
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
		case sameButVIPs(in.cfg, nc):
			e.log.Info(name + " VIPs changed, updating in place")
			inPlace = append(inPlace, moved{in, slices.Clone(in.vips)})
			in.cfg = nc
			in.setVIPs(nc)
		default:
			e.log.Info(name + " settings changed, restarting it")
			e.stopInstance(now, in)
		}
	}
	var errs []error
	var started []*instance
	for _, name := range order {
		if _, running := e.instances[name]; running {
			continue
		}
		in, err := newInstance(&e.env, want[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.instances[name] = in
		started = append(started, in)
	}
	// Every address is claimed (on record, sockets open) before any
	// instance can add one.
	var claims []Mastership
	for _, m := range inPlace {
		claims = append(claims, m.in.mastership(m.in.vips))
	}
	for _, in := range started {
		claims = append(claims, in.mastership(in.vips))
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
		in.start(e.env.now())
		e.fix(in)
	}
	e.order = order
	if len(errs) > 0 {
		return fmt.Errorf("starting instances: %v", errs)
	}
	return nil
}

func sameButVIPs(a, b config.Instance) bool {
	a.VIPs, a.ExcludedVIPs, b.VIPs, b.ExcludedVIPs = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
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
	in.logEffects(in.env.fx.assert(in.mastership(in.vips)))
	logSent := in.announce()
	in.send(in.m.Priority())
	logSent()
}
