package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/statefile"
	"github.com/vigil-ha/vigil/core/vip"
)

// Recovery acts with CAP_NET_ADMIN on records a dead run left in the state
// directory, so it trusts nothing in them it did not check: a record
// written in another boot is ignored (what it names is gone); an address
// is removed only if the policy's instances could have added it on that
// interface and it is not the node's own (its address, an owner's VIPs);
// a virtual MAC only if the policy has it on that parent; a parent's
// settings only for such a parent, only the keys Vigil sets, only with
// values in their range. What could not be removed stays recorded for
// the next try.

// Scope is what the policy lets a recovery undo on this node.
type Scope struct {
	vips   map[string]bool     // vipKey of every address an instance may add
	own    map[netip.Addr]bool // the node's own addresses: never removed
	vmacs  map[string]vip.VMAC // by name
	routes map[string]bool     // routeKey and ruleKey of every route and rule an instance may add
}

// NewScope is what cfg's instances could have added on this node.
func NewScope(cfg *config.Config) *Scope {
	s := &Scope{vips: map[string]bool{}, own: map[netip.Addr]bool{}, vmacs: map[string]vip.VMAC{}, routes: map[string]bool{}}
	for _, r := range cfg.Static.Routes {
		s.routes[routeKey(r)] = true
	}
	for _, r := range cfg.Static.Rules {
		s.routes[ruleKey(r)] = true
	}
	for _, a := range staticMastership(cfg.Static).Addrs {
		s.vips[vipKey(a)] = true
	}
	for _, in := range cfg.Instances {
		for _, r := range in.Routes {
			s.routes[routeKey(r)] = true
		}
		for _, r := range in.Rules {
			s.routes[ruleKey(r)] = true
		}
		if in.SourceAddr.IsValid() {
			s.own[in.SourceAddr] = true
		}
		for _, a := range instanceAddrs(in) {
			if in.Priority == 255 {
				s.own[a.Prefix.Addr()] = true // the address owner's: its own
			} else {
				s.vips[vipKey(a)] = true
			}
		}
		if in.VMAC != "" {
			s.vmacs[in.VMAC] = vip.VMAC{Name: in.VMAC, Parent: in.Interface, VRID: in.VRID, V6: in.IPv6()}
		}
	}
	return s
}

func (s *Scope) allowsVIP(a vip.Addr) bool {
	return s != nil && s.vips[vipKey(a)] && !s.own[a.Prefix.Addr()]
}

func (s *Scope) allowsVMAC(v vip.VMAC) bool {
	return s != nil && s.vmacs[v.Name] == v
}

// bootID names this boot of the kernel; "" if it cannot be read.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// recovery undoes what one effect of a dead run recorded in stateDir, as
// far as scope allows; what it cannot undo stays recorded.
type recovery func(stateDir string, scope *Scope, boot string, log hclog.Logger) error

// recoveries are the effects' recoveries, and the virtual MACs', in the
// order a stop undoes them: firewall rules, routes, addresses, interfaces.
var recoveries = []recovery{recoverAcceptMode, recoverRoutes, recoverAddrs, recoverKernelVMACs}

// Recover undoes what a previous run recorded as its own and left behind
// (it crashed or was killed), within scope: its accept mode rules
// (Vigil's own nftables table), its addresses, its virtual MAC interfaces
// and the parent settings it replaced. A nil scope (no policy to check
// against) removes no address and no interface, and keeps their records.
// It sends nothing. It logs each thing it removes and each record it
// refuses.
func Recover(stateDir string, scope *Scope, log hclog.Logger) error {
	if stateDir == "" {
		return nil
	}
	boot := bootID()
	var errs []error
	for _, r := range recoveries {
		errs = append(errs, r(stateDir, scope, boot, log))
	}
	return errors.Join(errs...)
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// readRecord reads a record into v; ok is false when there is none or it
// cannot be used (then it is logged and, if unusable, removed).
func readRecord(path string, v any, log hclog.Logger) (ok bool, err error) {
	b, err := statefile.Read(path, 1<<20)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		log.Warn("record is unreadable, ignoring it", "path", path, "error", err)
		return false, os.Remove(path)
	}
	return true, nil
}

// recoverAddrs removes a dead run's addresses through netlink.
func recoverAddrs(stateDir string, scope *Scope, boot string, log hclog.Logger) error {
	nl, err := vip.NewConfigurer()
	if err != nil {
		return err
	}
	defer nl.Close()
	return recoverWith(nl, stateDir, scope, boot, log)
}

func recoverWith(nl Addresses, stateDir string, scope *Scope, boot string, log hclog.Logger) error {
	path := filepath.Join(stateDir, vipRecord)
	var rec vipRecordFile
	if ok, err := readRecord(path, &rec, log); !ok {
		return err
	}
	if rec.Boot == "" || rec.Boot != boot {
		log.Info("ignoring a VIP record from an earlier boot", "path", path)
		return os.Remove(path)
	}
	var keep []savedVIP
	for _, s := range rec.VIPs {
		p, err := netip.ParsePrefix(s.Prefix)
		if err != nil || s.Interface == "" {
			log.Warn("ignoring a malformed entry of the VIP record", "prefix", s.Prefix, "interface", s.Interface)
			continue
		}
		a := vip.Addr{Prefix: p, Interface: s.Interface, Label: s.Label, Scope: s.Scope}
		if scope == nil {
			keep = append(keep, s)
			continue
		}
		if !scope.allowsVIP(a) {
			log.Warn("VIP record names an address no instance of the policy adds here, or the node's own; not removing it", "vip", a.Prefix, "interface", a.Interface)
			continue
		}
		removed, err := nl.Remove(a)
		if err != nil {
			log.Warn("cannot remove leftover VIP", "vip", a.Prefix, "interface", a.Interface, "error", err)
			keep = append(keep, s)
			continue
		}
		if removed {
			log.Info("removed VIP left by a previous run", "vip", a.Prefix, "interface", a.Interface)
		}
	}
	if len(keep) == 0 {
		return os.Remove(path)
	}
	b, _ := json.Marshal(vipRecordFile{Boot: boot, VIPs: keep})
	if err := statefile.WriteAtomic(path, b); err != nil {
		return err
	}
	if scope == nil {
		return fmt.Errorf("%d leftover VIPs kept in %s: no policy to check them against", len(keep), path)
	}
	return fmt.Errorf("%d leftover VIPs could not be removed; kept in %s for the next try", len(keep), path)
}

// parentSysctls are the keys a virtual MAC sets on its parent and the
// values they may hold.
var parentSysctls = map[string]int{"arp_ignore": 8, "arp_filter": 1, "arp_announce": 2}

func validParentSettings(old map[string]string) bool {
	for k, v := range old {
		top, ok := parentSysctls[k]
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 || n > top {
			return false
		}
	}
	return true
}

func recoverKernelVMACs(stateDir string, scope *Scope, boot string, log hclog.Logger) error {
	return recoverVMACs(kernelVMACs{}, stateDir, scope, boot, log)
}

// recoverVMACs removes what a run that died recorded, within scope: its
// virtual MAC interfaces (only macvlans with the virtual MAC on the
// recorded parent) and the parent settings it replaced.
func recoverVMACs(k VMACs, stateDir string, scope *Scope, boot string, log hclog.Logger) error {
	path := filepath.Join(stateDir, vmacRecord)
	var st vmacState
	if ok, err := readRecord(path, &st, log); !ok {
		return err
	}
	if st.Boot == "" || st.Boot != boot {
		log.Info("ignoring a virtual MAC record from an earlier boot", "path", path)
		return os.Remove(path)
	}
	keep := vmacState{Boot: boot, Parents: map[string]map[string]string{}}
	parents := map[string]bool{}
	for _, v := range st.VMACs {
		if scope == nil {
			keep.VMACs = append(keep.VMACs, v)
			parents[v.Parent] = true
			continue
		}
		if !scope.allowsVMAC(v) {
			log.Warn("virtual MAC record names an interface the policy does not make here; not removing it", "interface", v.Name, "parent", v.Parent)
			continue
		}
		parents[v.Parent] = true
		if deleted, err := k.Delete(v); err != nil {
			log.Warn("cannot remove leftover virtual MAC interface", "interface", v.Name, "error", err)
			keep.VMACs = append(keep.VMACs, v)
		} else if deleted {
			log.Info("removed leftover virtual MAC interface", "interface", v.Name)
		}
	}
	for parent, old := range st.Parents {
		switch {
		case parent == "all" || parent == "default" || strings.Contains(parent, "/"):
			log.Warn("virtual MAC record names settings of no interface; not restoring them", "interface", parent)
		case !parents[parent] && !scope.hasParent(parent):
			log.Warn("virtual MAC record names settings of an interface no virtual MAC of the policy has as parent; not restoring them", "interface", parent)
		case !validParentSettings(old):
			log.Warn("virtual MAC record holds settings Vigil never changes or values out of range; not restoring them", "interface", parent)
		case scope == nil || slicesContainParent(keep.VMACs, parent):
			keep.Parents[parent] = old // restored with its last virtual MAC
		default:
			if err := k.RestoreParent(parent, old); err != nil {
				log.Warn("cannot restore the interface's ARP settings", "interface", parent, "error", err)
				keep.Parents[parent] = old
			}
		}
	}
	if len(keep.VMACs) == 0 && len(keep.Parents) == 0 {
		return os.Remove(path)
	}
	b, _ := json.Marshal(keep)
	if err := statefile.WriteAtomic(path, b); err != nil {
		return err
	}
	return fmt.Errorf("leftover virtual MAC interfaces or settings kept in %s for the next try", path)
}

// hasParent reports whether a virtual MAC of the policy has parent.
func (s *Scope) hasParent(parent string) bool {
	if s == nil {
		return false
	}
	for _, v := range s.vmacs {
		if v.Parent == parent {
			return true
		}
	}
	return false
}

func slicesContainParent(vs []vip.VMAC, parent string) bool {
	for _, v := range vs {
		if v.Parent == parent {
			return true
		}
	}
	return false
}
