package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/core/vip"
)

// vipTable adds and removes VIPs and keeps a record of the ones this node
// added in the state directory, written before each change, so that a run
// that crashed can be cleaned up by the next.
type vipTable struct {
	nl    *vip.Configurer
	mu    sync.Mutex
	path  string
	log   hclog.Logger
	held  map[string]vip.Addr
	dirty chan struct{} // wakes the writer; capacity 1 coalesces bursts
}

const vipRecord = "vips.json"

func newVIPTable(nl *vip.Configurer, stateDir string, log hclog.Logger) *vipTable {
	t := &vipTable{nl: nl, log: log, held: map[string]vip.Addr{}, dirty: make(chan struct{}, 1)}
	if stateDir != "" {
		t.path = filepath.Join(stateDir, vipRecord)
		go t.writer()
	}
	return t
}

// writer saves the record whenever it changed, off the instances' paths:
// a takeover must not wait for the disk.
func (t *vipTable) writer() {
	for range t.dirty {
		t.mu.Lock()
		err := t.save()
		t.mu.Unlock()
		if err != nil {
			t.log.Warn("cannot record VIPs in state directory", "error", err)
		}
	}
}

func (t *vipTable) markDirty() {
	if t.path == "" {
		return
	}
	select {
	case t.dirty <- struct{}{}:
	default:
	}
}

// flush writes the record now (at shutdown, when nothing is on a path).
func (t *vipTable) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.save(); err != nil {
		t.log.Warn("cannot record VIPs in state directory", "error", err)
	}
}

func vipKey(a vip.Addr) string { return a.Interface + "/" + a.Prefix.String() }

// add configures a first and has it recorded after, in the background: the
// address is on the critical path of a failover, the file write is not. A
// crash in between leaves a VIP of the policy, which Recover removes anyway.
func (t *vipTable) add(a vip.Addr) error {
	_, err := t.nl.Add(a)
	t.mu.Lock()
	t.held[vipKey(a)] = a
	t.mu.Unlock()
	t.markDirty()
	return err
}

func (t *vipTable) remove(a vip.Addr) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.nl.Remove(a)
	if err == nil {
		delete(t.held, vipKey(a))
		t.markDirty()
	}
	return err
}

type savedVIP struct {
	Prefix    string `json:"prefix"`
	Interface string `json:"interface"`
	Label     string `json:"label,omitempty"`
	Scope     string `json:"scope,omitempty"`
}

func (t *vipTable) save() error {
	if t.path == "" {
		return nil
	}
	list := make([]savedVIP, 0, len(t.held))
	for _, a := range t.held {
		list = append(list, savedVIP{a.Prefix.String(), a.Interface, a.Label, a.Scope})
	}
	b, _ := json.Marshal(list)
	tmp := t.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, t.path)
}

// Recover removes VIPs a previous run left behind: every address recorded
// in stateDir, and every VIP of cfg found configured (keepalived does the
// latter at start-up). It logs each one it removes.
func Recover(stateDir string, cfg *policy.Config, log hclog.Logger) error {
	nl, err := vip.NewConfigurer()
	if err != nil {
		return err
	}
	defer nl.Close()
	var todo []vip.Addr
	if stateDir != "" {
		b, err := os.ReadFile(filepath.Join(stateDir, vipRecord))
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return fmt.Errorf("read VIP record: %w", err)
		default:
			var list []savedVIP
			if err := json.Unmarshal(b, &list); err != nil {
				log.Warn("VIP record is unreadable, ignoring it", "path", filepath.Join(stateDir, vipRecord), "error", err)
			}
			for _, s := range list {
				if p, err := netip.ParsePrefix(s.Prefix); err == nil {
					todo = append(todo, vip.Addr{Prefix: p, Interface: s.Interface, Label: s.Label, Scope: s.Scope})
				}
			}
		}
	}
	for _, in := range cfg.Instances {
		for _, v := range append(append([]policy.VIP(nil), in.VIPs...), in.ExcludedVIPs...) {
			ifname := v.Interface
			if ifname == "" {
				ifname = in.Interface
			}
			todo = append(todo, vip.Addr{Prefix: v.Prefix, Interface: ifname, Label: v.Label, Scope: v.Scope})
		}
	}
	for _, a := range todo {
		removed, err := nl.Remove(a)
		if err != nil {
			log.Warn("cannot remove leftover VIP", "vip", a.Prefix, "interface", a.Interface, "error", err)
			continue
		}
		if removed {
			log.Info("removed VIP left by a previous run", "vip", a.Prefix, "interface", a.Interface)
		}
	}
	if stateDir != "" {
		os.Remove(filepath.Join(stateDir, vipRecord))
	}
	return nil
}
