package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/vip"
)

const scopePolicy = `
instance "VI_1" {
  vrid     = 1
  version  = 3
  vips     = ["192.0.2.10/24", "192.0.2.11/24"]
  priority = { n1 = 100, n2 = 90 }
}
instance "OWN" {
  vrid     = 2
  version  = 3
  vips     = ["198.51.100.1/24"]
  priority = { n1 = 255, n2 = 90 }
}
instance "V6" {
  vrid     = 3
  version  = 3
  vips     = ["fe80::3/64", "2001:db8::3/64"]
  priority = { n1 = 100, n2 = 90 }
  use_vmac = true
}
`

func writeRecord(t *testing.T, dir, name string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRecoveryTrustsOnlyWhatItChecks: a forged or stale VIP record
// removes only addresses the policy's instances add on that interface,
// never the node's own; a record of an earlier boot is ignored; an
// address whose removal failed stays recorded.
func TestRecoveryTrustsOnlyWhatItChecks(t *testing.T) {
	scope := NewScope(nodeConfig(t, scopePolicy))
	entry := func(p, ifname string) savedVIP { return savedVIP{Prefix: p, Interface: ifname} }
	for _, tc := range []struct {
		name    string
		boot    string
		entries []savedVIP
		fail    []string
		scope   *Scope
		removed []string
		kept    []string
	}{
		{name: "the policy's own", boot: bootID(), entries: []savedVIP{entry("192.0.2.10/24", "eth0")}, scope: scope,
			removed: []string{"eth0 192.0.2.10/24"}},
		{name: "the node's own address", boot: bootID(), entries: []savedVIP{entry("192.0.2.1/24", "eth0")}, scope: scope},
		{name: "an owner's VIP", boot: bootID(), entries: []savedVIP{entry("198.51.100.1/24", "eth0")}, scope: scope},
		{name: "a VIP on another interface", boot: bootID(), entries: []savedVIP{entry("192.0.2.10/24", "eth1")}, scope: scope},
		{name: "an address of no instance", boot: bootID(), entries: []savedVIP{entry("203.0.113.9/24", "eth0")}, scope: scope},
		{name: "a VIP on its virtual MAC", boot: bootID(), entries: []savedVIP{entry("2001:db8::3/64", "vrrp.3")}, scope: scope,
			removed: []string{"vrrp.3 2001:db8::3/64"}},
		{name: "an earlier boot", boot: "8a0f0d5e-0000-4000-8000-000000000000", entries: []savedVIP{entry("192.0.2.10/24", "eth0")}, scope: scope},
		{name: "no boot", entries: []savedVIP{entry("192.0.2.10/24", "eth0")}, scope: scope},
		{name: "a removal that fails", boot: bootID(), entries: []savedVIP{entry("192.0.2.10/24", "eth0"), entry("192.0.2.11/24", "eth0")},
			fail: []string{"eth0 192.0.2.11/24"}, scope: scope, removed: []string{"eth0 192.0.2.10/24"}, kept: []string{"192.0.2.11/24"}},
		{name: "no policy", boot: bootID(), entries: []savedVIP{entry("192.0.2.10/24", "eth0")}, kept: []string{"192.0.2.10/24"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			addrs := newFakeAddrs("eth0 192.0.2.1/24", "eth0 192.0.2.10/24", "eth0 192.0.2.11/24", "eth1 192.0.2.10/24",
				"eth0 198.51.100.1/24", "eth0 203.0.113.9/24", "vrrp.3 2001:db8::3/64")
			addrs.fail = map[string]bool{}
			for _, f := range tc.fail {
				addrs.fail[f] = true
			}
			writeRecord(t, dir, vipRecord, vipRecordFile{Boot: tc.boot, VIPs: tc.entries})
			err := recoverWith(addrs, dir, tc.scope, bootID(), hclog.NewNullLogger())
			if got := addrs.removals(); !slices.Equal(got, tc.removed) {
				t.Errorf("removed %v, want %v", got, tc.removed)
			}
			b, rerr := os.ReadFile(filepath.Join(dir, vipRecord))
			if len(tc.kept) == 0 {
				if err != nil || rerr == nil {
					t.Errorf("Recover = %v; record left: %s", err, b)
				}
				return
			}
			if err == nil {
				t.Error("Recover kept entries and said nothing")
			}
			var rec vipRecordFile
			json.Unmarshal(b, &rec)
			var kept []string
			for _, e := range rec.VIPs {
				kept = append(kept, e.Prefix)
			}
			if !slices.Equal(kept, tc.kept) || rec.Boot != bootID() {
				t.Errorf("record kept %v (boot %q), want %v", kept, rec.Boot, tc.kept)
			}
		})
	}
}

// TestVMACRecoveryTrustsOnlyWhatItChecks: a forged virtual MAC record
// never writes a sysctl Vigil does not set, a value out of range, or on an
// interface that is no parent of the policy's virtual MACs ("all"
// included), nor deletes an interface the policy does not make.
func TestVMACRecoveryTrustsOnlyWhatItChecks(t *testing.T) {
	scope := NewScope(nodeConfig(t, scopePolicy))
	ours := vip.VMAC{Name: "vrrp.3", Parent: "eth0", VRID: 3, V6: true}
	for _, tc := range []struct {
		name  string
		st    vmacState
		calls []string
	}{
		{"the policy's own", vmacState{VMACs: []vip.VMAC{ours}, Parents: map[string]map[string]string{"eth0": {"arp_ignore": "0", "arp_announce": "1"}}},
			[]string{"delete vrrp.3", "restore eth0 map[arp_announce:1 arp_ignore:0]"}},
		{"forwarding on all", vmacState{Parents: map[string]map[string]string{"all": {"forwarding": "1"}}}, nil},
		{"a key Vigil never sets", vmacState{VMACs: []vip.VMAC{ours}, Parents: map[string]map[string]string{"eth0": {"forwarding": "1"}}},
			[]string{"delete vrrp.3"}},
		{"a value out of range", vmacState{VMACs: []vip.VMAC{ours}, Parents: map[string]map[string]string{"eth0": {"arp_ignore": "99"}}},
			[]string{"delete vrrp.3"}},
		{"an interface of no virtual MAC", vmacState{Parents: map[string]map[string]string{"eth1": {"arp_ignore": "1"}}}, nil},
		{"a virtual MAC the policy does not make", vmacState{VMACs: []vip.VMAC{{Name: "eth1", Parent: "eth0", VRID: 3, V6: true}}}, nil},
		{"an earlier boot", vmacState{Boot: "8a0f0d5e-0000-4000-8000-000000000000", VMACs: []vip.VMAC{ours}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.st.Boot == "" {
				tc.st.Boot = bootID()
			}
			writeRecord(t, dir, vmacRecord, tc.st)
			k := &fakeVMACs{up: map[string]vip.VMAC{"vrrp.3": ours, "eth1": {}}}
			recoverVMACs(k, dir, scope, bootID(), hclog.NewNullLogger())
			if got := k.log(); !slices.Equal(got, tc.calls) {
				t.Errorf("calls %q, want %q", got, tc.calls)
			}
			if _, err := os.Stat(filepath.Join(dir, vmacRecord)); err == nil {
				b, _ := os.ReadFile(filepath.Join(dir, vmacRecord))
				if !strings.Contains(string(b), `"vmacs":null`) && len(tc.calls) == 0 {
					t.Errorf("record kept: %s", b)
				}
			}
		})
	}
}

// TestInstanceWithoutVIPs: keepalived's notify-only VRRPv2 instance (no
// virtual_ipaddress) elects a master, advertises no address and touches
// no address.
func TestInstanceWithoutVIPs(t *testing.T) {
	addrs := newFakeAddrs()
	r := newRig(t, addrs)
	if err := r.e.Apply(nodeConfig(t, `
instance "NOTIFY_ONLY" {
  vrid     = 9
  priority = { n1 = 200, n2 = 100 }
}
`)); err != nil {
		t.Fatal(err)
	}
	// VRRPv2's whole seconds: the master-down interval is about 3.2 s.
	for deadline := time.Now().Add(6 * time.Second); r.state("NOTIFY_ONLY") != "MASTER"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("NOTIFY_ONLY is %s, want MASTER\n%s", r.state("NOTIFY_ONLY"), r.log.String())
		}
	}
	r.wire.mu.Lock()
	sent := len(r.wire.sent[9])
	r.wire.mu.Unlock()
	if sent == 0 {
		t.Error("a master without VIPs sent no advert")
	}
	r.e.Shutdown()
	if got := addrs.removals(); len(got) > 0 || len(addrs.list()) > 0 {
		t.Errorf("addresses touched: removed %v, on %v", got, addrs.list())
	}
}
