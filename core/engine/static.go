package engine

import (
	"errors"
	"slices"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/vip"
)

// The node's static addresses, routes and rules (keepalived's
// static_ipaddress, static_routes, static_rules) are held whatever the
// instances' states: added when a policy is applied, removed when a reload
// drops them and at the stop. They go through the addresses and routes
// effects, as a master's would (recorded before they are added, one found
// there already is someone else's and never removed, recovered after a
// crash), but are never announced and never under accept mode.
type statics struct {
	fx   *effects
	held config.Static // as last applied
}

// staticInstance names the static entries in logs and records.
var staticInstance = &config.Instance{Name: "static"}

func staticMastership(s config.Static) Mastership {
	m := Mastership{Instance: staticInstance, Routes: s.Routes, Rules: s.Rules}
	for _, a := range s.Addrs {
		m.Addrs = append(m.Addrs, vip.Addr{Prefix: a.Prefix, Label: a.Label, Scope: a.Scope, Interface: a.Interface})
	}
	return m
}

// drop removes what want no longer has; before instances change, so that
// an address moving from static to an instance is free.
func (s *statics) drop(want config.Static) error {
	have, keep := staticMastership(s.held), staticMastership(want)
	gone := Mastership{Instance: staticInstance,
		Addrs:  slices.DeleteFunc(have.Addrs, func(a vip.Addr) bool { return slices.Contains(keep.Addrs, a) }),
		Routes: slices.DeleteFunc(slices.Clone(have.Routes), func(r config.Route) bool { return slices.Contains(keep.Routes, r) }),
		Rules:  slices.DeleteFunc(slices.Clone(have.Rules), func(r config.Rule) bool { return slices.Contains(keep.Rules, r) })}
	if len(gone.Addrs)+len(gone.Routes)+len(gone.Rules) == 0 {
		return nil
	}
	err := s.fx.withdraw(gone)
	s.fx.unclaim(gone)
	return err
}

// hold claims (records) and adds everything want has; adding again what
// is there already is harmless, and puts back what someone deleted.
func (s *statics) hold(want config.Static) error {
	s.held = want
	if want.Empty() {
		return nil
	}
	m := staticMastership(want)
	if err := s.fx.claim([]Mastership{m}); err != nil {
		return err
	}
	return s.fx.assert(m)
}

// release removes everything, at the stop.
func (s *statics) release() error {
	err := s.drop(config.Static{})
	s.held = config.Static{}
	return err
}

// logStatic logs, one line each, what the static entries' effects could
// not do.
func (e *Engine) logStatic(err error) {
	for _, f := range splitJoined(err) {
		e.log.Error("static "+errors.Unwrap(f).Error(), "effect", effectName(f))
	}
}
