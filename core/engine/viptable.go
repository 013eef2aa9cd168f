package engine

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/statefile"
	"github.com/vigil-ha/vigil/core/vip"
)

// vipTable is the one place that decides which addresses this node may
// remove: only those this run added itself. An address that was on the
// interface before (the node's own address when it is the RFC 5798 address
// owner, or one an operator configured) is never removed, not on FAULT,
// stop, reload or crash recovery.
//
// Before an instance can add a VIP, the VIP is claimed: checked absent and
// written to the record in the state directory (at instance start, never
// on a takeover's path). A run that crashed is cleaned up by removing what
// its record claims; the record is on disk before any address it names is
// added, so no crash can leave an address unrecorded.
type vipTable struct {
	nl   Addresses
	path string
	log  hclog.Logger

	mu      sync.Mutex
	claimed map[string]vip.Addr // absent when claimed: this run may add it
	held    map[string]vip.Addr // added by this run and on now
	foreign map[string]bool     // configured by someone else: never removed
	unsaved bool                // claims not yet written
	dirty   chan struct{}       // wakes the writer; capacity 1 coalesces bursts
	written chan struct{}       // closed when the writer has ended
}

const vipRecord = "vips.json"

func newVIPTable(nl Addresses, stateDir string, log hclog.Logger) *vipTable {
	t := &vipTable{nl: nl, log: log, claimed: map[string]vip.Addr{}, held: map[string]vip.Addr{},
		foreign: map[string]bool{}, dirty: make(chan struct{}, 1), written: make(chan struct{})}
	if stateDir != "" {
		t.path = filepath.Join(stateDir, vipRecord)
		go t.writer()
	} else {
		close(t.written)
	}
	return t
}

func vipKey(a vip.Addr) string { return a.Interface + "/" + a.Prefix.String() }

// claim records that this run may add the addresses, before it can: an
// address already configured is someone else's and is left alone for good.
// The record is written by commit, once for every instance a reload starts
// (one fsync, not one per instance).
func (t *vipTable) claim(who string, addrs []vip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range addrs {
		k := vipKey(a)
		if _, ok := t.claimed[k]; ok || t.foreign[k] {
			continue
		}
		if present, _ := t.nl.Present(a); present {
			t.foreign[k] = true
			t.log.Warn(fmt.Sprintf("%s VIP %s is already configured on %s and was not added by Vigil; it will never be removed by Vigil", who, a.Prefix, a.Interface),
				"hint", "this is expected for an address owner (priority 255); otherwise remove it by hand if an earlier run left it")
			continue
		}
		t.claimed[k] = a
		t.unsaved = true
	}
}

// commit writes the record if claims changed since it was last written;
// an instance starts only after it.
func (t *vipTable) commit() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.unsaved {
		t.saveLogged()
	}
}

// unclaim forgets addresses an instance no longer uses, unless held.
func (t *vipTable) unclaim(addrs []vip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range addrs {
		k := vipKey(a)
		if _, held := t.held[k]; !held {
			delete(t.claimed, k)
		}
	}
	t.markDirty()
}

// add configures a. An address found already configured is someone
// else's, unless this run added it before (a master asserted again after
// a reload): it is not held, so nothing of this run removes it.
func (t *vipTable) add(who string, a vip.Addr) error {
	added, err := t.nl.Add(a)
	t.mu.Lock()
	defer t.mu.Unlock()
	k := vipKey(a)
	_, ours := t.held[k]
	switch {
	case ours && err == nil: // added now (someone removed it) or still on
	case added:
		t.held[k] = a
		delete(t.foreign, k)
		if _, ok := t.claimed[k]; !ok { // claimed by now unless the policy changed under us
			t.claimed[k] = a
			t.markDirty()
		}
	case err == nil:
		if !t.foreign[k] {
			t.log.Warn(fmt.Sprintf("%s VIP %s was already configured on %s by someone else; Vigil will not remove it", who, a.Prefix, a.Interface))
		}
		t.foreign[k] = true
		delete(t.claimed, k)
		t.markDirty()
	}
	return err
}

// remove deletes a if this run added it, and does nothing otherwise.
func (t *vipTable) remove(a vip.Addr) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := vipKey(a)
	if _, held := t.held[k]; !held {
		return nil
	}
	_, err := t.nl.Remove(a)
	if err == nil {
		delete(t.held, k)
	}
	return err
}

// writer saves the record when an address turned out to be someone
// else's, off the takeover's path.
func (t *vipTable) writer() {
	defer close(t.written)
	for range t.dirty {
		t.mu.Lock()
		t.saveLogged()
		t.mu.Unlock()
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

// release ends the run's claims at a clean stop, once every instance has
// removed its addresses: the record keeps only what could not be removed,
// for the next start to try again. Nothing may use the table after.
func (t *vipTable) release() {
	close(t.dirty)
	<-t.written
	t.mu.Lock()
	defer t.mu.Unlock()
	t.claimed = maps.Clone(t.held)
	t.saveLogged()
}

// vipRecordFile is vips.json: the claimed addresses and the boot they
// were claimed in.
type vipRecordFile struct {
	Boot string     `json:"boot"`
	VIPs []savedVIP `json:"vips"`
}

type savedVIP struct {
	Prefix    string `json:"prefix"`
	Interface string `json:"interface"`
	Label     string `json:"label,omitempty"`
	Scope     string `json:"scope,omitempty"`
}

// saveLogged writes the claimed addresses; t.mu is held.
func (t *vipTable) saveLogged() {
	if t.path == "" {
		return
	}
	t.unsaved = false
	rec := vipRecordFile{Boot: bootID(), VIPs: make([]savedVIP, 0, len(t.claimed))}
	for _, a := range t.claimed {
		rec.VIPs = append(rec.VIPs, savedVIP{a.Prefix.String(), a.Interface, a.Label, a.Scope})
	}
	b, _ := json.Marshal(rec)
	if err := statefile.WriteAtomic(t.path, b); err != nil {
		t.log.Warn("cannot record VIPs in state directory", "path", t.path, "error", err)
	}
}
