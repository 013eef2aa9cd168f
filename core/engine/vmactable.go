package engine

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/statefile"
	"github.com/vigil-ha/vigil/core/vip"
)

// VMACs makes and removes use_vmac interfaces and the parent settings they
// need (core/vip).
type VMACs interface {
	Create(v vip.VMAC) error
	Delete(v vip.VMAC) (deleted bool, err error)
	ParentSettings(parent string) (map[string]string, error)
	SetParent(parent string) error
	RestoreParent(parent string, old map[string]string) error
}

type kernelVMACs struct{}

func (kernelVMACs) Create(v vip.VMAC) error                            { return vip.CreateVMAC(v) }
func (kernelVMACs) Delete(v vip.VMAC) (bool, error)                    { return vip.DeleteVMAC(v) }
func (kernelVMACs) ParentSettings(p string) (map[string]string, error) { return vip.ReadParentARP(p) }
func (kernelVMACs) SetParent(p string) error                           { return vip.SetParentARP(p) }
func (kernelVMACs) RestoreParent(p string, old map[string]string) error {
	return vip.RestoreSysctls(p, old)
}

// vmacRecord is where the engine keeps the virtual MAC interfaces it made
// and the parent settings it replaced, so that a run that dies leaves
// nothing the next start or `vigil cleanup` cannot undo.
const vmacRecord = "vmacs.json"

type vmacState struct {
	Boot    string                       `json:"boot"` // the boot the record was written in
	VMACs   []vip.VMAC                   `json:"vmacs"`
	Parents map[string]map[string]string `json:"parents"` // parent -> sysctl -> value to restore
}

// vmacTable holds the virtual MAC interfaces of running instances, in
// memory and on disk. It is used from the engine's loop only.
type vmacTable struct {
	k    VMACs
	path string
	log  hclog.Logger
	st   vmacState
}

func newVMACTable(k VMACs, stateDir string, log hclog.Logger) *vmacTable {
	t := &vmacTable{k: k, log: log, st: vmacState{Parents: map[string]map[string]string{}}}
	if stateDir != "" {
		t.path = filepath.Join(stateDir, vmacRecord)
	}
	return t
}

// acquire makes v's interface. The record is written before the kernel is
// touched: a crash in between leaves a record of something absent, which
// recovery skips, never an interface nobody knows of.
func (t *vmacTable) acquire(v vip.VMAC) error {
	if slices.ContainsFunc(t.st.VMACs, func(o vip.VMAC) bool { return o.Name == v.Name }) {
		return errors.New("virtual MAC interface " + v.Name + " is used by another instance")
	}
	if _, set := t.st.Parents[v.Parent]; !set {
		// Recorded before anything is changed: a crash in between leaves
		// the old values to put back.
		old, err := t.k.ParentSettings(v.Parent)
		if err != nil {
			return err
		}
		t.st.Parents[v.Parent] = old
		t.save()
		if err := t.k.SetParent(v.Parent); err != nil {
			t.restoreParent(v.Parent)
			t.save()
			return err
		}
	}
	t.st.VMACs = append(t.st.VMACs, v)
	t.save()
	if err := t.k.Create(v); err != nil {
		t.drop(v)
		return err
	}
	t.log.Info("virtual MAC interface up", "interface", v.Name, "mac", v.MAC().String(), "parent", v.Parent)
	return nil
}

// release removes v's interface, and the parent's settings with its last.
func (t *vmacTable) release(v vip.VMAC) {
	if !slices.Contains(t.st.VMACs, v) {
		return
	}
	if _, err := t.k.Delete(v); err != nil {
		t.log.Error("cannot remove virtual MAC interface", "interface", v.Name, "error", err)
	} else {
		t.log.Info("virtual MAC interface removed", "interface", v.Name)
	}
	t.drop(v)
}

// drop forgets v and restores its parent if nothing else uses it.
func (t *vmacTable) drop(v vip.VMAC) {
	t.st.VMACs = slices.DeleteFunc(t.st.VMACs, func(o vip.VMAC) bool { return o == v })
	if !slices.ContainsFunc(t.st.VMACs, func(o vip.VMAC) bool { return o.Parent == v.Parent }) {
		t.restoreParent(v.Parent)
	}
	t.save()
}

func (t *vmacTable) restoreParent(parent string) {
	if err := t.k.RestoreParent(parent, t.st.Parents[parent]); err != nil {
		t.log.Warn("cannot restore the interface's ARP settings", "interface", parent, "error", err)
	}
	delete(t.st.Parents, parent)
}

func (t *vmacTable) save() {
	if t.path == "" {
		return
	}
	if len(t.st.VMACs) == 0 && len(t.st.Parents) == 0 {
		if err := os.Remove(t.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.log.Error("cannot remove the virtual MAC record", "path", t.path, "error", err)
		}
		return
	}
	t.st.Boot = bootID()
	b, _ := json.Marshal(t.st)
	if err := statefile.WriteAtomic(t.path, b); err != nil {
		t.log.Error("cannot record virtual MAC interfaces", "path", t.path, "error", err)
	}
}
