package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/route"
	"github.com/vigil-ha/vigil/core/statefile"
)

// routeEffect adds the routes and rules of a master (keepalived's
// virtual_routes and virtual_rules) after its addresses, and removes them
// before. It removes only what this run added: a route or rule that was
// there already is someone else's. They are recorded in the state
// directory when their instance starts (Claim), off the takeover's path,
// so that a restart after a crash removes what was added (recoverRoutes).
type routeEffect struct {
	nl     Routes
	record string
	log    hclog.Logger
	held   map[string]bool // keys (routeKey, ruleKey) of what this run added
	// routes and rules are the record: what instances claimed and may add
	// or have added, less what was found someone else's.
	routes map[string]config.Route
	rules  map[string]config.Rule
}

// routeRecord is the name of the routes' record in the state directory.
const routeRecord = "routes.json"

type routeRecordFile struct {
	Boot   string         `json:"boot"`
	Routes []config.Route `json:"routes,omitempty"`
	Rules  []config.Rule  `json:"rules,omitempty"`
}

func routeKey(r config.Route) string { return "route " + r.String() }
func ruleKey(r config.Rule) string   { return "rule " + r.String() }

func newRouteEffect(nl Routes, stateDir string, log hclog.Logger) *routeEffect {
	e := &routeEffect{nl: nl, log: log, held: map[string]bool{}, routes: map[string]config.Route{}, rules: map[string]config.Rule{}}
	if stateDir != "" {
		e.record = filepath.Join(stateDir, routeRecord)
	}
	return e
}

func (*routeEffect) Name() string                { return "routes" }
func (*routeEffect) Policy(*config.Config) error { return nil }
func (*routeEffect) Announce(Mastership) error   { return nil }

// Close releases the netlink socket; masters have withdrawn before.
func (e *routeEffect) Close() error {
	if c, ok := e.nl.(interface{ Close() }); ok {
		c.Close()
	}
	return nil
}

// Claim records the routes and rules of starting instances, one write for
// them all, before any can be added.
func (e *routeEffect) Claim(ms []Mastership) error {
	n := len(e.routes) + len(e.rules)
	for _, m := range ms {
		e.remember(m)
	}
	if len(e.routes)+len(e.rules) == n {
		return nil
	}
	if err := e.save(); err != nil {
		return fmt.Errorf("cannot record routes and rules: %w", err)
	}
	return nil
}

func (e *routeEffect) remember(m Mastership) {
	for _, r := range m.Routes {
		e.routes[routeKey(r)] = r
	}
	for _, r := range m.Rules {
		e.rules[ruleKey(r)] = r
	}
}

// Unclaim forgets what a stopped instance no longer holds; what it could
// not remove stays recorded for the next start's recovery.
func (e *routeEffect) Unclaim(m Mastership) {
	changed := false
	forget := func(key string) {
		if !e.held[key] {
			if e.forget(key) {
				changed = true
			}
		}
	}
	for _, r := range m.Routes {
		forget(routeKey(r))
	}
	for _, r := range m.Rules {
		forget(ruleKey(r))
	}
	if changed {
		e.saveLogged()
	}
}

// Assert adds m's routes, then its rules (a rule may point at a table the
// routes fill).
func (e *routeEffect) Assert(m Mastership) error {
	if e.unrecorded(m) { // claimed already but for a failed record: record now
		e.remember(m)
		if err := e.save(); err != nil {
			return fmt.Errorf("cannot record routes and rules before adding them: %w", err)
		}
	}
	var errs []error
	for _, r := range m.Routes {
		errs = append(errs, e.add(m.Name(), routeKey(r), func() (bool, error) { return e.nl.AddRoute(r) }))
	}
	for _, r := range m.Rules {
		errs = append(errs, e.add(m.Name(), ruleKey(r), func() (bool, error) { return e.nl.AddRule(r) }))
	}
	return errors.Join(errs...)
}

// unrecorded reports whether m has a route or rule not in the record.
func (e *routeEffect) unrecorded(m Mastership) bool {
	for _, r := range m.Routes {
		if _, ok := e.routes[routeKey(r)]; !ok {
			return true
		}
	}
	for _, r := range m.Rules {
		if _, ok := e.rules[ruleKey(r)]; !ok {
			return true
		}
	}
	return false
}

// add adds key and holds it if it was added: one found there is someone
// else's and leaves the record.
func (e *routeEffect) add(who, key string, add func() (bool, error)) error {
	added, err := add()
	switch {
	case err != nil:
		return fmt.Errorf("cannot add %s: %w", key, err)
	case added:
		e.held[key] = true
	case !e.held[key]:
		e.log.Warn(fmt.Sprintf("%s %s was already there, added by someone else; Vigil will not remove it", who, key))
		e.forget(key)
		e.saveLogged()
	}
	return nil
}

// Reassert adds again those of m's routes and rules that are recorded
// (ours, or not added yet) and missing, and returns the keys of those
// this run had added: someone else deleted them. One found there is left
// as it is.
func (e *routeEffect) Reassert(m Mastership) (restored []string, err error) {
	var errs []error
	again := func(key string, add func() (bool, error)) {
		if !e.recorded(key) {
			return
		}
		was := e.held[key]
		added, err := add()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("cannot put back %s: %w", key, err))
		case added && was:
			restored = append(restored, key)
		case added:
			e.held[key] = true // failed at the takeover, in now
		}
	}
	for _, r := range m.Routes {
		again(routeKey(r), func() (bool, error) { return e.nl.AddRoute(r) })
	}
	for _, r := range m.Rules {
		again(ruleKey(r), func() (bool, error) { return e.nl.AddRule(r) })
	}
	return restored, errors.Join(errs...)
}

// recorded reports whether key is in the record.
func (e *routeEffect) recorded(key string) bool {
	_, r := e.routes[key]
	_, u := e.rules[key]
	return r || u
}

// Withdraw removes m's rules, then its routes, those this run added; they
// stay recorded while the instance runs.
func (e *routeEffect) Withdraw(m Mastership) error {
	var errs []error
	for _, r := range m.Rules {
		errs = append(errs, e.remove(ruleKey(r), func() (bool, error) { return e.nl.RemoveRule(r) }))
	}
	for _, r := range m.Routes {
		errs = append(errs, e.remove(routeKey(r), func() (bool, error) { return e.nl.RemoveRoute(r) }))
	}
	return errors.Join(errs...)
}

func (e *routeEffect) remove(key string, remove func() (bool, error)) error {
	if !e.held[key] {
		return nil
	}
	if _, err := remove(); err != nil {
		return fmt.Errorf("cannot remove %s: %w", key, err) // still held, still recorded
	}
	delete(e.held, key)
	return nil
}

// forget drops key from the record; false if it was not in it.
func (e *routeEffect) forget(key string) bool {
	_, r := e.routes[key]
	_, u := e.rules[key]
	delete(e.held, key)
	delete(e.routes, key)
	delete(e.rules, key)
	return r || u
}

// save writes the record: what this run claimed and may hold.
func (e *routeEffect) save() error {
	if e.record == "" {
		return nil
	}
	if len(e.routes) == 0 && len(e.rules) == 0 {
		if err := os.Remove(e.record); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	rec := routeRecordFile{Boot: bootID()}
	for _, r := range e.routes {
		rec.Routes = append(rec.Routes, r)
	}
	for _, r := range e.rules {
		rec.Rules = append(rec.Rules, r)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return statefile.WriteAtomic(e.record, b)
}

func (e *routeEffect) saveLogged() {
	if err := e.save(); err != nil {
		e.log.Warn("cannot write the routes record", "path", e.record, "error", err)
	}
}

// recoverRoutes removes a dead run's routes and rules, those the policy
// has an instance add on this node.
func recoverRoutes(stateDir string, scope *Scope, boot string, log hclog.Logger) error {
	path := filepath.Join(stateDir, routeRecord)
	if !fileExists(path) {
		return nil
	}
	nl, err := route.New()
	if err != nil {
		return err
	}
	defer nl.Close()
	return recoverRoutesWith(nl, path, scope, boot, log)
}

func recoverRoutesWith(nl Routes, path string, scope *Scope, boot string, log hclog.Logger) error {
	var rec routeRecordFile
	if ok, err := readRecord(path, &rec, log); !ok {
		return err
	}
	if rec.Boot == "" || rec.Boot != boot {
		log.Info("ignoring a routes record from an earlier boot", "path", path)
		return os.Remove(path)
	}
	keep := routeRecordFile{Boot: boot}
	undo := func(key string, remove func() (bool, error), kept func()) {
		switch {
		case scope == nil:
			kept()
		case !scope.routes[key]:
			log.Warn("routes record names one no instance of the policy adds here; not removing it", "entry", key)
		default:
			removed, err := remove()
			if err != nil {
				log.Warn("cannot remove a leftover of a previous run", "entry", key, "error", err)
				kept()
			} else if removed {
				log.Info("removed what a previous run left", "entry", key)
			}
		}
	}
	for _, r := range rec.Rules {
		undo(ruleKey(r), func() (bool, error) { return nl.RemoveRule(r) }, func() { keep.Rules = append(keep.Rules, r) })
	}
	for _, r := range rec.Routes {
		undo(routeKey(r), func() (bool, error) { return nl.RemoveRoute(r) }, func() { keep.Routes = append(keep.Routes, r) })
	}
	if len(keep.Routes)+len(keep.Rules) == 0 {
		return os.Remove(path)
	}
	b, _ := json.Marshal(keep)
	if err := statefile.WriteAtomic(path, b); err != nil {
		return err
	}
	return fmt.Errorf("%d leftover routes and rules kept in %s for the next try", len(keep.Routes)+len(keep.Rules), path)
}
