package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/vip"
	"github.com/vigil-ha/vigil/core/vrrp"
)

// An address owner whose VIP is the node's own address: Vigil finds it
// configured, so it is never Vigil's to remove, whatever happens (keepalived
// 2.2.7 deletes it, and the node's routes with it).
const ownerPolicy = `
instance "VI_1" {
  vrid     = 7
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.1/24"]
  priority = { n1 = 255, n2 = 100 }
}
`

func TestOwnerAddressIsNeverRemoved(t *testing.T) {
	addrs := newFakeAddrs("eth0 192.0.2.1/24")
	r := newRig(t, addrs)
	if err := r.e.Apply(nodeConfig(t, ownerPolicy)); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER") // the owner takes over at once
	if strings.Contains(r.record(t), "192.0.2.1") {
		t.Errorf("the owner's address is in the crash record: %s", r.record(t))
	}
	// FAULT (interface down) would remove the VIPs.
	r.links.set("eth0", false)
	r.waitState(t, "VI_1", "FAULT")
	r.links.set("eth0", true)
	r.waitState(t, "VI_1", "MASTER")
	// Another owner for the VRID, from a higher address: the machine steps
	// down; the address stays and the conflict is logged.
	r.wire.inject(t, "eth0", vrrp.Advert{Version: vrrp.V3, VRID: 7, Priority: 255, Interval: 10 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, "192.0.2.200")
	r.waitState(t, "VI_1", "BACKUP")
	if !strings.Contains(r.log.String(), "VI_1 another router claims to own VRID 7 (priority 255)") {
		t.Errorf("owner conflict not logged:\n%s", r.log.String())
	}
	r.e.Shutdown()
	if got := addrs.removals(); len(got) > 0 {
		t.Fatalf("removed addresses Vigil did not add: %v", got)
	}
	if !addrs.has("eth0 192.0.2.1/24") {
		t.Fatal("the node's own address is gone")
	}
	// Crash recovery from what the run left on disk touches nothing.
	if err := recoverWith(addrs, r.dir, NewScope(nodeConfig(t, ownerPolicy)), bootID(), hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	if got := addrs.removals(); len(got) > 0 {
		t.Fatalf("recovery removed addresses Vigil did not add: %v", got)
	}
}

// The same policy with a VIP that is not there: Vigil adds it and removes it.
func TestAddedVIPIsRemovedOnFaultAndStop(t *testing.T) {
	addrs := newFakeAddrs()
	r := newRig(t, addrs)
	if err := r.e.Apply(nodeConfig(t, ownerPolicy)); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	if !addrs.has("eth0 192.0.2.1/24") {
		t.Fatal("VIP not added")
	}
	r.links.set("eth0", false)
	r.waitState(t, "VI_1", "FAULT")
	if addrs.has("eth0 192.0.2.1/24") {
		t.Fatal("VIP still on in FAULT")
	}
	r.links.set("eth0", true)
	r.waitState(t, "VI_1", "MASTER")
	r.e.Shutdown()
	if addrs.has("eth0 192.0.2.1/24") {
		t.Fatal("VIP still on after stop")
	}
	if rec := r.record(t); !strings.HasSuffix(rec, `"vips":[]}`) {
		t.Errorf("record after a clean stop = %q, want no VIP", rec)
	}
}

// The record names a VIP before it can be added, so a run killed at any
// moment is cleaned up; an address that was there before is not in it.
func TestCrashRecordComesBeforeTheAddress(t *testing.T) {
	addrs := newFakeAddrs("eth0 192.0.2.50/24")
	r := newRig(t, addrs)
	cfg := nodeConfig(t, `
instance "VI_1" {
  vrid     = 7
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.10/24", "192.0.2.50/24"]
  priority = { n1 = 100, n2 = 200 }
}
`)
	if err := r.e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	// A backup (n2 ranks higher but is silent, so this node will take
	// over after the master-down interval); the record is written already.
	rec := r.record(t)
	if !strings.Contains(rec, "192.0.2.10/24") || strings.Contains(rec, "192.0.2.50") {
		t.Fatalf("record at start = %s, want 192.0.2.10/24 only", rec)
	}
	r.waitState(t, "VI_1", "MASTER")
	// "Crash": the engine is abandoned with its VIP on, and the next start
	// finds the state directory as it was then; its recovery removes what
	// the record names, and only that.
	left := t.TempDir()
	if err := os.WriteFile(filepath.Join(left, vipRecord), []byte(r.record(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := recoverWith(addrs, left, NewScope(cfg), bootID(), hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	if got := addrs.removals(); !slices.Equal(got, []string{"eth0 192.0.2.10/24"}) {
		t.Fatalf("recovery removed %v, want only Vigil's 192.0.2.10/24", got)
	}
	if !addrs.has("eth0 192.0.2.50/24") {
		t.Fatal("recovery removed an address that was there before Vigil")
	}
	if _, err := os.Stat(filepath.Join(left, vipRecord)); !os.IsNotExist(err) {
		t.Errorf("record still there after recovery: %v", err)
	}
}

// An address someone configures after Vigil claimed it is found at the
// takeover (EEXIST) and is then not Vigil's either.
func TestAddressAddedBySomeoneElseLaterIsKept(t *testing.T) {
	addrs := newFakeAddrs()
	r := newRig(t, addrs)
	if err := r.e.Apply(nodeConfig(t, `
instance "VI_1" {
  vrid     = 7
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.10/24"]
  priority = { n1 = 100, n2 = 200 }
}
`)); err != nil {
		t.Fatal(err)
	}
	addrs.add("eth0 192.0.2.10/24")
	r.waitState(t, "VI_1", "MASTER")
	r.e.Shutdown()
	if !addrs.has("eth0 192.0.2.10/24") || len(addrs.removals()) > 0 {
		t.Fatalf("removed %v", addrs.removals())
	}
	if strings.Contains(r.record(t), "192.0.2.10") {
		t.Errorf("record still claims it: %s", r.record(t))
	}
}

// A reload leaves unchanged instances alone, updates a VIP-only change in
// place and restarts only what changed otherwise.
func TestReloadTouchesOnlyWhatChanged(t *testing.T) {
	addrs := newFakeAddrs()
	r := newRig(t, addrs)
	base := `
instance "VI_1" {
  vrid     = 1
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.11/24"]
  priority = { n1 = 200, n2 = 100 }
}
instance "VI_2" {
  vrid     = 2
  version  = 3
  advert_interval = "10ms"
  vips     = [%s]
  priority = { n1 = 200, n2 = 100 }
}
instance "VI_3" {
  vrid     = 3
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.13/24"]
  priority = { n1 = %d, n2 = 100 }
}
`
	if err := r.e.Apply(nodeConfig(t, sprintf(base, `"192.0.2.12/24"`, 200))); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"VI_1", "VI_2", "VI_3"} {
		r.waitState(t, n, "MASTER")
	}
	before1, before2 := len(r.transitionsOf("VI_1")), len(r.transitionsOf("VI_2"))
	if err := r.e.Apply(nodeConfig(t, sprintf(base, `"192.0.2.22/24"`, 150))); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_3", "MASTER")
	if got := len(r.transitionsOf("VI_1")); got != before1 {
		t.Errorf("unchanged VI_1 made %d transitions on reload", got-before1)
	}
	if got := len(r.transitionsOf("VI_2")); got != before2 {
		t.Errorf("VI_2 (VIPs only) made %d transitions on reload", got-before2)
	}
	if addrs.has("eth0 192.0.2.12/24") || !addrs.has("eth0 192.0.2.22/24") {
		t.Errorf("VI_2's VIPs not updated in place: %v", addrs.on)
	}
	if !contains(r.transitionsOf("VI_3"), "INIT") && len(r.transitionsOf("VI_3")) < 2 {
		t.Errorf("VI_3 (priority changed) was not restarted: %v", r.transitionsOf("VI_3"))
	}
	if !strings.Contains(r.record(t), "192.0.2.22/24") || strings.Contains(r.record(t), "192.0.2.12/") {
		t.Errorf("record after reload = %s", r.record(t))
	}
	r.e.Shutdown()
	if r.wire.open != 0 {
		t.Errorf("%d advert channels left open", r.wire.open)
	}
}

// A sync group's members share FAULT and follow each other.
func TestSyncGroupSharesFault(t *testing.T) {
	addrs := newFakeAddrs()
	r := newRig(t, addrs)
	if err := r.e.Apply(nodeConfig(t, `
instance "VI_1" {
  vrid     = 1
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.11/24"]
  priority = { n1 = 200, n2 = 100 }
}
instance "VI_2" {
  vrid     = 2
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.12/24"]
  priority = { n1 = 200, n2 = 100 }
}
sync_group "G" {
  instances = ["VI_1", "VI_2"]
}
`)); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	r.waitState(t, "VI_2", "MASTER")
	if err := r.e.SetFault("VI_1", fsm.FaultCheck, "check x", true, "check x failed"); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "FAULT")
	r.waitState(t, "VI_2", "FAULT")
	if addrs.has("eth0 192.0.2.12/24") {
		t.Error("VI_2 kept its VIP in its group's FAULT")
	}
	r.e.SetFault("VI_1", fsm.FaultCheck, "check x", false, "check x passes")
	r.waitState(t, "VI_1", "MASTER")
	r.waitState(t, "VI_2", "MASTER")
	r.e.Shutdown()
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// Checks and interfaces weigh on an instance by the same rules
// (core/priority): weights while failing or down, FAULT without weight.
func TestChecksAndInterfacesWeighAlike(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	if err := r.e.Apply(nodeConfig(t, `
check "web" {
  plugin = "http-probe"
  weight = -50
}
check "db" {
  plugin = "http-probe"
  weight = 0
}
check "drain" {
  plugin = "file-weight"
  weight = 1
}
instance "VI_1" {
  vrid     = 1
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.11/24"]
  priority = { n1 = 200, n2 = 100 }
  track    = ["web", "db", "drain"]
  track_interface {
    name   = "eth1"
    weight = -30
  }
}
`)); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	prio := func() uint8 {
		for _, s := range r.e.Status() {
			return s.Priority
		}
		return 0
	}
	steps := []struct {
		name  string
		do    func()
		prio  uint8
		state string
	}{
		{"web fails", func() { r.e.SetCheck("web", true, "web failed") }, 150, "MASTER"},
		{"eth1 goes down", func() { r.links.set("eth1", false) }, 120, "MASTER"},
		{"db fails (weight 0)", func() { r.e.SetCheck("db", true, "db failed") }, 120, "FAULT"},
		{"db is removed", func() { r.e.ClearCheck("db") }, 120, "MASTER"},
		{"web passes", func() { r.e.SetCheck("web", false, "web passes") }, 170, "MASTER"},
		{"eth1 comes back", func() { r.links.set("eth1", true) }, 200, "MASTER"},
		// A valued check (track_file): the number times the weight.
		{"drain reads -100", func() { r.e.SetCheckValue("drain", -100, "drain") }, 100, "MASTER"},
		{"web fails while drained", func() { r.e.SetCheck("web", true, "web failed") }, 50, "MASTER"},
		{"web passes", func() { r.e.SetCheck("web", false, "web passes") }, 100, "MASTER"},
		{"drain reads -300: below -253 is FAULT", func() { r.e.SetCheckValue("drain", -300, "drain") }, 200, "FAULT"},
		{"drain reads 0", func() { r.e.SetCheckValue("drain", 0, "drain") }, 200, "MASTER"},
	}
	for _, s := range steps {
		s.do()
		r.waitState(t, "VI_1", s.state)
		if got := prio(); got != s.prio {
			t.Errorf("%s: priority %d, want %d", s.name, got, s.prio)
		}
	}
}

// Valid adverts from a million distinct link-local sources leave the
// handover's table of live peers empty: only the site's peers are kept
// (the table used to grow by one entry per source, forever).
func TestHeardTableIsBounded(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	if err := r.e.Apply(nodeConfig(t, `
instance "VI_6" {
  vrid     = 7
  version  = 3
  advert_interval = "1s"
  vips     = ["2001:db8::10/64"]
  priority = { n1 = 100, n2 = 200 }
}
`)); err != nil {
		t.Fatal(err)
	}
	adv := vrrp.Advert{Version: vrrp.V3, VRID: 7, Priority: 250, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::10")}}
	received := func() (n uint64) {
		for _, s := range r.e.Status() {
			n = s.Counters["adverts_received"]
		}
		return n
	}
	for i := range 1_000_000 {
		var a [16]byte
		a[0], a[1] = 0xfe, 0x80
		a[12], a[13], a[14], a[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		r.wire.inject(t, "eth0", adv, netip.AddrFrom16(a).String())
		if i%1000 == 999 { // let the loop keep up: every advert is handled
			for deadline := time.Now().Add(time.Second); received() < uint64(i+1) && time.Now().Before(deadline); {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	if got := received(); got < 900_000 {
		t.Fatalf("only %d of a million adverts handled; the test proves little", got)
	}
	var n int
	r.e.do(func(time.Time) { n = len(r.e.env.peers) })
	if n != 0 {
		t.Fatalf("heard table holds %d senders after a million sources, want 0 (none is a peer)", n)
	}
}

// TestStatusCountsWhatMetricsReport: the counters keepalived-exporter's
// metrics map to (became/released master, priority 0 received and sent),
// the VIPs, and the last takeover's duration are in the status.
func TestStatusCountsWhatMetricsReport(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	if err := r.e.Apply(nodeConfig(t, ownerPolicy)); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	r.links.set("eth0", false)
	r.waitState(t, "VI_1", "FAULT")
	r.links.set("eth0", true)
	r.waitState(t, "VI_1", "MASTER")
	r.wire.inject(t, "eth0", vrrp.Advert{Version: vrrp.V3, VRID: 7, Priority: 0, Interval: 10 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, "192.0.2.200")
	var st Status
	for range 100 {
		st = r.e.Status()[0]
		if st.Counters["priority_zero_received"] == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.Counters["became_master"] != 2 || st.Counters["released_master"] != 1 || st.Counters["priority_zero_received"] != 1 {
		t.Errorf("counters %v: want became_master 2, released_master 1, priority_zero_received 1", st.Counters)
	}
	if len(st.VIPs) != 1 || st.VIPs[0] != "192.0.2.1/24" {
		t.Errorf("VIPs %v", st.VIPs)
	}
	if st.LastTakeover <= 0 || st.LastTakeover > time.Second {
		t.Errorf("last takeover %v", st.LastTakeover)
	}
	r.e.Shutdown()
	if st := r.e.Status(); len(st) > 0 && st[0].Counters["priority_zero_sent"] != 1 {
		t.Errorf("after a master's stop: %v", st[0].Counters)
	}
}

// TestSlowStartDoesNotExpireBackups: a start-up that takes longer than a
// backup's master-down interval (many instances, each opening sockets and
// reading addresses) must not make the backups it started first, or last,
// take over: an instance's timer runs from when it can hear adverts, not
// from when the start-up began. Before, every instance's deadline counted
// from the start of the whole apply, and a backup of a site with a live
// master took over the moment the loop was free.
func TestSlowStartDoesNotExpireBackups(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	r.wire.openDelay = map[uint8]time.Duration{1: 400 * time.Millisecond} // VI_1 opens slowly
	stop := make(chan struct{})
	defer close(stop)
	master := func(vrid uint8) {
		// A master at 200 adverts every 20 ms, from before the start.
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			r.wire.mu.Lock()
			_, listening := r.wire.handlers[fmt.Sprintf("eth0/%d", vrid)]
			r.wire.mu.Unlock()
			if listening {
				r.wire.inject(t, "eth0", vrrp.Advert{Version: vrrp.V3, VRID: vrid, Priority: 200, Interval: 100 * time.Millisecond,
					Addrs: []netip.Addr{netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", 100+vrid))}}, "192.0.2.200")
			}
		}
	}
	go master(1)
	go master(2)
	if err := r.e.Apply(nodeConfig(t, `
instance "VI_1" {
  vrid            = 1
  version         = 3
  advert_interval = "100ms"
  vips            = ["192.0.2.101/24"]
  priority        = { n1 = 100 }
}

instance "VI_2" {
  vrid            = 2
  version         = 3
  advert_interval = "100ms"
  vips            = ["192.0.2.102/24"]
  priority        = { n1 = 100 }
}
`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	for _, name := range []string{"VI_1", "VI_2"} {
		if tr := r.transitionsOf(name); len(tr) != 1 || r.state(name) != "BACKUP" {
			t.Errorf("%s: %v, now %s; a live master at higher priority: it must stay BACKUP", name, tr, r.state(name))
		}
	}
}

// TestAcceptModeDrops: the VIPs of instances without accept mode are
// dropped before any instance runs, the set follows reloads, a node whose
// instances all accept never reaches the firewall, and stop removes the
// rules; a firewall that fails fails the apply and keeps what runs.
func TestAcceptModeDrops(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	accepting := `
instance "VI_1" {
  vrid     = 1
  version  = 3
  vips     = ["192.0.2.11/24"]
  priority = { n1 = 200, n2 = 100 }
}
`
	if err := r.e.Apply(nodeConfig(t, accepting)); err != nil {
		t.Fatal(err)
	}
	recorded := func() bool { _, err := os.Stat(filepath.Join(r.dir, acceptModeRecord)); return err == nil }
	if _, calls, _ := r.fw.state(); calls != 0 || recorded() {
		t.Errorf("the firewall was reached %d times (recorded %v) with every instance accepting", calls, recorded())
	}
	strict := `
site "s" {
  strict = true
}
instance "VI_1" {
  vrid     = 1
  version  = 3
  vips     = ["192.0.2.11/24"]
  excluded_vips = ["198.51.100.11/24"]
  priority = { n1 = 200, n2 = 100 }
}
instance "VI_2" {
  vrid     = 2
  version  = 3
  vips     = ["192.0.2.12/24"]
  priority = { n1 = 255, n2 = 100 }
}
`
	if err := r.e.Apply(nodeConfig(t, strict)); err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("198.51.100.11")}
	if drops, _, _ := r.fw.state(); !slices.Equal(drops, want) || !recorded() {
		t.Errorf("dropped %v, want %v (the owner's VI_2 accepts); recorded %v", drops, want, recorded())
	}
	r.fw.mu.Lock()
	r.fw.err = errors.New("nf_tables not loaded")
	r.fw.mu.Unlock()
	if err := r.e.Apply(nodeConfig(t, accepting)); err == nil || !strings.Contains(err.Error(), "accept mode") {
		t.Errorf("apply with a failing firewall: %v", err)
	}
	if len(r.e.Status()) != 2 {
		t.Errorf("a failed apply changed the running instances: %d", len(r.e.Status()))
	}
	r.fw.mu.Lock()
	r.fw.err = nil
	r.fw.mu.Unlock()
	if err := r.e.Apply(nodeConfig(t, accepting)); err != nil {
		t.Fatal(err)
	}
	if drops, _, _ := r.fw.state(); len(drops) != 0 {
		t.Errorf("reloaded to accept everywhere, still dropping %v", drops)
	}
	if err := r.e.Apply(nodeConfig(t, strict)); err != nil {
		t.Fatal(err)
	}
	r.e.Shutdown()
	if drops, _, closed := r.fw.state(); !closed || len(drops) != 0 || recorded() {
		t.Errorf("after stop: closed %v, dropping %v, recorded %v", closed, drops, recorded())
	}
}

// TestVMACLifecycle: a use_vmac instance makes its virtual MAC interface
// (with the parent's ARP settings) before it opens its adverts there, puts
// its VIPs on it, records both, and on stop removes the interface and puts
// the parent back; a record left by a run that died is undone by recovery.
func TestVMACLifecycle(t *testing.T) {
	addrs := newFakeAddrs()
	r := newRig(t, addrs)
	vmacCfg := nodeConfig(t, `
instance "VI_1" {
  vrid     = 51
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.51/24"]
  excluded_vips = ["198.51.100.51/24"]
  priority = { n1 = 200, n2 = 100 }
  use_vmac = true
}
`)
	if err := r.e.Apply(vmacCfg); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	if !addrs.has("vrrp.51 192.0.2.51/24") || !addrs.has("vrrp.51 198.51.100.51/24") {
		t.Errorf("VIPs not on the virtual MAC: %v", addrs.list())
	}
	r.wire.mu.Lock()
	_, onVMAC := r.wire.handlers["vrrp.51/51"]
	r.wire.mu.Unlock()
	if !onVMAC {
		t.Error("adverts are not on vrrp.51")
	}
	rec, _ := os.ReadFile(filepath.Join(r.dir, vmacRecord))
	if !strings.Contains(string(rec), `"vrrp.51"`) || !strings.Contains(string(rec), `"eth0"`) {
		t.Errorf("record %s", rec)
	}
	r.e.Shutdown()
	want := []string{"set eth0", "create vrrp.51 on eth0 00:00:5e:00:01:33", "delete vrrp.51", "restore eth0 map[arp_ignore:0]"}
	if got := r.vmacs.log(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(r.dir, vmacRecord)); !os.IsNotExist(err) {
		t.Errorf("record left after a clean stop: %v", err)
	}

	// A run that died: its record is undone, and nothing else.
	os.WriteFile(filepath.Join(r.dir, vmacRecord), rec, 0o600)
	k := &fakeVMACs{up: map[string]vip.VMAC{"vrrp.51": {Name: "vrrp.51"}}}
	if err := recoverVMACs(k, r.dir, NewScope(vmacCfg), bootID(), hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	if got := k.log(); !slices.Equal(got, []string{"delete vrrp.51", "restore eth0 map[arp_ignore:0]"}) {
		t.Errorf("recovery calls %q", got)
	}
	if _, err := os.Stat(filepath.Join(r.dir, vmacRecord)); !os.IsNotExist(err) {
		t.Errorf("record left after recovery: %v", err)
	}
}

// TestVMACXmitBase: with vmac_xmit_base the adverts stay on the parent
// while the VIPs still go on the virtual MAC.
func TestVMACXmitBase(t *testing.T) {
	addrs := newFakeAddrs()
	r := newRig(t, addrs)
	if err := r.e.Apply(nodeConfig(t, `
instance "VI_1" {
  vrid     = 52
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.52/24"]
  priority = { n1 = 200, n2 = 100 }
  use_vmac = true
  vmac_interface = "vmac52"
  vmac_xmit_base = true
}
`)); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	r.wire.mu.Lock()
	_, onParent := r.wire.handlers["eth0/52"]
	r.wire.mu.Unlock()
	if !onParent || !addrs.has("vmac52 192.0.2.52/24") {
		t.Errorf("adverts on eth0: %v; addresses %v", onParent, addrs.list())
	}
}

// A master whose VIP set changes in place keeps the VIPs that stay: they
// stay on record for crash recovery, nobody is blamed for them, and they
// go at the stop. (The old code added them again, took the kernel's
// "already there" for someone else's address and dropped them from the
// record.)
func TestInPlaceVIPChangeKeepsTheOthers(t *testing.T) {
	addrs := newFakeAddrs()
	r := newRig(t, addrs)
	policy := `
instance "VI_1" {
  vrid     = 1
  version  = 3
  advert_interval = "10ms"
  vips     = [%s]
  priority = { n1 = 200, n2 = 100 }
}
`
	if err := r.e.Apply(nodeConfig(t, sprintf(policy, `"192.0.2.12/24", "192.0.2.32/24"`))); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	if err := r.e.Apply(nodeConfig(t, sprintf(policy, `"192.0.2.22/24", "192.0.2.32/24"`))); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.log.String(), "by someone else") {
		t.Errorf("the VIP that stayed was taken for someone else's:\n%s", r.log.String())
	}
	// The record is rewritten off the loop: watch it for a while (20
	// looks, 10 ms apart).
	for range 20 {
		if rec := r.record(t); !strings.Contains(rec, "192.0.2.22/24") || !strings.Contains(rec, "192.0.2.32/24") {
			t.Fatalf("crash record lost a VIP the master holds: %s", rec)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.e.Shutdown()
	if got := addrs.list(); len(got) != 0 {
		t.Errorf("left behind at stop: %v", got)
	}
}

// An instance authenticates adverts through the auth its policy picks: a
// wrong password is counted and moves nothing; the right one is obeyed.
func TestInstanceAuthenticatesAdverts(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	err := r.e.Apply(nodeConfig(t, `
instance "VI_1" {
  vrid     = 1
  version  = 2
  advert_interval = "1s"
  vips     = ["192.0.2.11/24"]
  priority = { n1 = 200, n2 = 100 }
  auth { 
    type = "pass"
    password = "1322"
  }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	adv := vrrp.Advert{Version: vrrp.V2, VRID: 1, Priority: 250, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.11")}}
	_ = vrrp.NewPassword("wrong").Sign(&adv, netip.Addr{})
	r.wire.inject(t, "eth0", adv, "192.0.2.2")
	r.waitFor(t, "the wrong password to be counted", func(s Status) bool { return s.Counters["dropped_auth"] == 1 })
	if st := r.e.Status()[0]; st.Master != "" {
		t.Fatalf("wrong password obeyed: state %s master %q", st.State, st.Master)
	}
	_ = vrrp.NewPassword("1322").Sign(&adv, netip.Addr{})
	r.wire.inject(t, "eth0", adv, "192.0.2.2")
	r.waitFor(t, "the right password to be obeyed", func(s Status) bool { return s.Master == "192.0.2.2" })
}

// TestOwnInterfaceAndReverse: track_own_interface = false (keepalived's
// dont_track_primary) keeps an instance out of FAULT when its interface
// goes down; a reversed check lowers the priority while it passes.
func TestOwnInterfaceAndReverse(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	if err := r.e.Apply(nodeConfig(t, `
check "maint" {
  plugin  = "http-probe"
  weight  = 30
  reverse = true
}
instance "VI_1" {
  vrid            = 1
  version         = 3
  advert_interval = "10ms"
  vips            = ["192.0.2.11/24"]
  priority        = { n1 = 200, n2 = 100 }
  track           = ["maint"]
  track_own_interface = false
}
instance "VI_2" {
  vrid            = 2
  version         = 3
  advert_interval = "10ms"
  vips            = ["192.0.2.12/24"]
  priority        = { n1 = 200, n2 = 100 }
}
`)); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	r.waitState(t, "VI_2", "MASTER")
	// Status lists VI_1 first: waitFor looks at it.
	r.e.SetCheck("maint", false, "maint passes")
	r.waitFor(t, "VI_1 at 170 while maint passes", func(s Status) bool { return s.Name == "VI_1" && s.Priority == 170 })
	r.e.SetCheck("maint", true, "maint fails")
	r.waitFor(t, "VI_1 back at 200", func(s Status) bool { return s.Name == "VI_1" && s.Priority == 200 })
	r.links.set("eth0", false)
	r.waitState(t, "VI_2", "FAULT")
	r.waitState(t, "VI_1", "MASTER")
	r.e.Shutdown()
}

// TestVIPRemovedByOthersIsPutBack: a master's VIP deleted by someone else
// (NetworkManager reapplying its configuration, keepalived #2479) is put
// back and announced again at once, counted and logged; a backup leaves
// an address it does not hold alone.
func TestVIPRemovedByOthersIsPutBack(t *testing.T) {
	addrs := newFakeAddrs()
	r := newRig(t, addrs)
	if err := r.e.Apply(nodeConfig(t, `
instance "VI_1" {
  vrid            = 1
  version         = 3
  advert_interval = "10ms"
  vips            = ["192.0.2.11/24"]
  priority        = { n1 = 200, n2 = 100 }
}
instance "VI_2" {
  vrid            = 2
  version         = 3
  advert_interval = "10s"
  vips            = ["192.0.2.12/24"]
  priority        = { n1 = 100, n2 = 200 }
}
`)); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	r.waitState(t, "VI_2", "BACKUP") // for 30 s: its master-down interval
	bursts := r.ann.count()
	addrs.deleteByOthers("eth0", "192.0.2.11/24")
	if !addrs.has("eth0 192.0.2.11/24") {
		t.Fatal("the VIP was not put back")
	}
	if r.ann.count() <= bursts {
		t.Error("the VIP put back was not announced")
	}
	if n := r.e.Status()[0].Counters["vips_restored"]; n != 1 {
		t.Errorf("vips_restored = %d, want 1", n)
	}
	if !strings.Contains(r.log.String(), "VI_1 VIP 192.0.2.11/24 was removed from eth0 by someone else; put back") {
		t.Errorf("no log line:\n%s", r.log.String())
	}
	// Not held here: VI_2 is backup (n2 is master of it).
	addrs.add("eth0 192.0.2.12/24")
	addrs.deleteByOthers("eth0", "192.0.2.12/24")
	if addrs.has("eth0 192.0.2.12/24") {
		t.Error("an address no master here holds was put back")
	}
	r.e.Shutdown()
	if addrs.has("eth0 192.0.2.11/24") {
		t.Error("the VIP outlived the shutdown")
	}
}

// TestRoutesFollowMastership: a master adds its routes and rules after its
// addresses and removes them when it stops, recorded meanwhile; a route
// someone else had added is left alone; recovery removes what a crashed
// run recorded, within the policy.
func TestRoutesFollowMastership(t *testing.T) {
	foreign := config.Route{To: netip.MustParsePrefix("203.0.113.0/24"), Type: "blackhole"}
	ours := config.Route{To: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("192.0.2.254"), Table: 100}
	rule := config.Rule{From: netip.MustParsePrefix("192.0.2.11/32"), Table: 100, Priority: 1000}
	cfg := nodeConfig(t, `
instance "VI_1" {
  vrid            = 1
  version         = 3
  advert_interval = "10ms"
  vips            = ["192.0.2.11/24"]
  priority        = { n1 = 200, n2 = 100 }
}
`)
	cfg.Instances[0].Routes = []config.Route{ours, foreign}
	cfg.Instances[0].Rules = []config.Rule{rule}
	r := newRig(t, newFakeAddrs())
	r.routes.on[routeKey(foreign)] = true
	if err := r.e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	if !r.routes.has(routeKey(ours)) || !r.routes.has(ruleKey(rule)) || !r.routes.has(routeKey(foreign)) {
		t.Fatalf("routes on master: %v", r.routes.on)
	}
	rec, err := os.ReadFile(filepath.Join(r.dir, routeRecord))
	if err != nil || !strings.Contains(string(rec), "198.51.100.0/24") || strings.Contains(string(rec), "203.0.113.0/24") {
		t.Errorf("record %s (%v): want ours only", rec, err)
	}
	if !strings.Contains(r.log.String(), "blackhole 203.0.113.0/24 was already there") {
		t.Errorf("no line for the foreign route:\n%s", r.log.String())
	}
	// Someone else deletes ours, and the foreign one: ours is put back,
	// counted and logged; the foreign one is not Vigil's to restore.
	r.routes.deleteByOthers(routeKey(ours))
	r.routes.deleteByOthers(ruleKey(rule))
	r.routes.deleteByOthers(routeKey(foreign))
	r.waitFor(t, "routes put back", func(s Status) bool { return s.Counters["routes_restored"] == 2 })
	if !r.routes.has(routeKey(ours)) || !r.routes.has(ruleKey(rule)) || r.routes.has(routeKey(foreign)) {
		t.Errorf("after deletions by others: %v, want ours back and the foreign one gone", r.routes.on)
	}
	if !strings.Contains(r.log.String(), "VI_1 route 198.51.100.0/24 via 192.0.2.254 table 100 was removed by someone else; put back") {
		t.Errorf("no line for the route put back:\n%s", r.log.String())
	}
	r.e.Shutdown()
	if r.routes.has(routeKey(ours)) || r.routes.has(ruleKey(rule)) {
		t.Errorf("after the stop: %v, want ours gone", r.routes.on)
	}
	if _, err := os.Stat(filepath.Join(r.dir, routeRecord)); !os.IsNotExist(err) {
		t.Errorf("the record outlived the stop: %v", err)
	}

	// A crashed run's record: what the policy has is removed, the rest not.
	dir := t.TempDir()
	stray := config.Route{To: netip.MustParsePrefix("192.0.2.0/25"), Dev: "eth0"}
	b, _ := json.Marshal(routeRecordFile{Boot: bootID(), Routes: []config.Route{ours, stray}, Rules: []config.Rule{rule}})
	os.WriteFile(filepath.Join(dir, routeRecord), b, 0o600)
	kernel := newFakeRoutes(routeKey(ours), routeKey(stray), ruleKey(rule))
	if err := recoverRoutesWith(kernel, filepath.Join(dir, routeRecord), NewScope(cfg), bootID(), hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	if kernel.has(routeKey(ours)) || kernel.has(ruleKey(rule)) || !kernel.has(routeKey(stray)) {
		t.Errorf("after recovery: %v, want only the route the policy does not have", kernel.on)
	}
}

// TestMulticastGroup: an instance of a site with its own multicast group
// (keepalived's vrrp_mcast_group4) joins it, sends there, and drops adverts
// to the RFC's group, which its shared socket still hears.
func TestMulticastGroup(t *testing.T) {
	group := netip.MustParseAddr("224.0.0.19")
	r := newRig(t, newFakeAddrs())
	if err := r.e.Apply(nodeConfig(t, `
site "lab" {
  multicast_group4 = "224.0.0.19"
}
instance "VI_1" {
  vrid            = 1
  version         = 3
  advert_interval = "10ms"
  vips            = ["192.0.2.11/24"]
  priority        = { n1 = 100, n2 = 200 }
}
`)); err != nil {
		t.Fatal(err)
	}
	adv := vrrp.Advert{Version: vrrp.V3, VRID: 1, Priority: 200, Interval: 10 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.11")}}
	r.wire.injectTo(t, "eth0", adv, "192.0.2.2", vrrp.GroupV4) // another group: not heard
	r.waitFor(t, "the advert to the RFC's group dropped", func(s Status) bool { return s.Counters["dropped_group"] == 1 })
	r.waitState(t, "VI_1", "MASTER")
	r.wire.mu.Lock()
	joined, sentThere, sentRFC := slices.Contains(r.wire.joined, group), r.wire.dsts[group], r.wire.dsts[vrrp.GroupV4]
	r.wire.mu.Unlock()
	if !joined || sentThere == 0 || sentRFC != 0 {
		t.Errorf("joined %v, adverts to %v: %d, to %v: %d", joined, group, sentThere, vrrp.GroupV4, sentRFC)
	}
	r.wire.injectTo(t, "eth0", adv, "192.0.2.2", group) // a higher master in our group
	r.waitState(t, "VI_1", "BACKUP")
}

// Effective priority changes reach notifiers only from instances that ask
// (keepalived's notify_priority_changes), in the state they happened in;
// state changes carry the effective priority, as keepalived's notify
// scripts get it; and a reload that changes only that leaves the master
// be.
func TestPriorityChangesNotified(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	policy := `
check "web" {
  plugin = "http-probe"
  weight = -50
}
instance "VI_1" {
  vrid     = 1
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.11/24"]
  priority = { n1 = 200, n2 = 100 }
  track    = ["web"]
  notify_priority_changes = %v
}
instance "VI_2" {
  vrid     = 2
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.12/24"]
  priority = { n1 = 200, n2 = 100 }
  track    = ["web"]
}
`
	if err := r.e.Apply(nodeConfig(t, sprintf(policy, true))); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	r.waitState(t, "VI_2", "MASTER")
	r.e.SetCheck("web", true, "web failed")
	r.waitFor(t, "priority 150", func(s Status) bool { return s.Priority == 150 })
	r.e.SetCheck("web", false, "web passes")
	r.waitFor(t, "priority 200", func(s Status) bool { return s.Priority == 200 })
	if got, want := r.priorityNotes("VI_1"), []string{"MASTER 150", "MASTER 200"}; !slices.Equal(got, want) {
		t.Errorf("VI_1 priority notes %v, want %v", got, want)
	}
	if got := r.priorityNotes("VI_2"); len(got) != 0 {
		t.Errorf("VI_2 did not ask for priority notes, got %v", got)
	}
	r.mu.Lock()
	for _, tr := range r.transitions {
		if tr.To == "MASTER" && !tr.PriorityChange && tr.Priority != 200 {
			t.Errorf("%s entered MASTER with priority %d, want the effective 200", tr.Instance, tr.Priority)
		}
	}
	r.mu.Unlock()

	before := len(r.transitionsOf("VI_1"))
	if err := r.e.Apply(nodeConfig(t, sprintf(policy, false))); err != nil {
		t.Fatal(err)
	}
	r.e.SetCheck("web", true, "web failed")
	r.waitFor(t, "priority 150", func(s Status) bool { return s.Priority == 150 })
	if got := len(r.transitionsOf("VI_1")); got != before {
		t.Errorf("a reload changing only notify_priority_changes restarted VI_1: %v", r.transitionsOf("VI_1"))
	}
	if got := r.priorityNotes("VI_1"); len(got) != 2 {
		t.Errorf("priority notes after turning them off: %v", got)
	}
}

// A reload that changes only an instance's notifiers leaves a master be
// (it restarted the instance: priority 0, the addresses moved and back).
func TestReloadChangingNotifyKeepsMaster(t *testing.T) {
	r := newRig(t, newFakeAddrs())
	policy := `
notifier "a" {
  plugin = "exec-notify"
}
notifier "b" {
  plugin = "exec-notify"
}
instance "VI_1" {
  vrid     = 1
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.11/24"]
  priority = { n1 = 200, n2 = 100 }
  notify   = [%s]
}
`
	if err := r.e.Apply(nodeConfig(t, sprintf(policy, `"a"`))); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	before := r.transitionsOf("VI_1")
	if err := r.e.Apply(nodeConfig(t, sprintf(policy, `"a", "b"`))); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	if got := r.transitionsOf("VI_1"); !slices.Equal(got, before) {
		t.Errorf("transitions %v after a notify-only reload, were %v", got, before)
	}
	if st := r.e.Status(); st[0].Counters["priority_zero_sent"] != 0 {
		t.Errorf("the master resigned on a notify-only reload")
	}
}

// Static addresses, routes and rules (keepalived's static_ipaddress,
// static_routes, static_rules) are held from the apply to the stop
// whatever the instances do; a reload drops only what it drops; one found
// there already is never removed; one deleted by someone else is put
// back; and recovery after a crash knows them.
func TestStaticHeldWhateverTheState(t *testing.T) {
	addrs := newFakeAddrs("eth0 203.0.113.9/24") // someone else's
	r := newRig(t, addrs)
	policy := `
instance "VI_1" {
  vrid     = 1
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.11/24"]
  priority = { n1 = 200, n2 = 100 }
}
static {
  address {
    address = "198.51.100.1/24"
  }
  address {
    address = "203.0.113.9/24"
  }
  rule {
    from  = "198.51.100.0/24"
    table = 100
  }
  %s
}
`
	route := `route {
    to  = "default"
    via = "198.51.100.254"
    table = 100
  }`
	if err := r.e.Apply(nodeConfig(t, sprintf(policy, route))); err != nil {
		t.Fatal(err)
	}
	const rt, rl = "route 0.0.0.0/0 via 198.51.100.254 table 100", "rule from 198.51.100.0/24 table 100"
	if !addrs.has("eth0 198.51.100.1/24") || !r.routes.has(rt) || !r.routes.has(rl) {
		t.Fatalf("static entries not held: %v %v", addrs.list(), r.routes.on)
	}
	if !strings.Contains(r.record(t), "198.51.100.1/24") || strings.Contains(r.record(t), "203.0.113.9") {
		t.Errorf("record %s: want ours only", r.record(t))
	}
	r.waitState(t, "VI_1", "MASTER")
	r.links.set("eth0", false) // the instance faults; statics stay
	r.waitState(t, "VI_1", "FAULT")
	if !addrs.has("eth0 198.51.100.1/24") || !r.routes.has(rl) || addrs.has("eth0 192.0.2.11/24") {
		t.Errorf("in FAULT: %v %v, want the statics and no VIP", addrs.list(), r.routes.on)
	}
	r.links.set("eth0", true)
	r.waitState(t, "VI_1", "MASTER")
	// A reload without the route: it goes, the rest stays.
	if err := r.e.Apply(nodeConfig(t, sprintf(policy, ""))); err != nil {
		t.Fatal(err)
	}
	if r.routes.has(rt) || !r.routes.has(rl) || !addrs.has("eth0 198.51.100.1/24") {
		t.Errorf("after dropping the route: %v %v", addrs.list(), r.routes.on)
	}
	// Someone else deletes the address and the rule: both come back.
	addrs.deleteByOthers("eth0", "198.51.100.1/24")
	r.routes.deleteByOthers(rl)
	r.waitFor(t, "static entries put back", func(Status) bool { return addrs.has("eth0 198.51.100.1/24") && r.routes.has(rl) })
	r.e.Shutdown()
	if addrs.has("eth0 198.51.100.1/24") || r.routes.has(rl) || !addrs.has("eth0 203.0.113.9/24") {
		t.Errorf("after the stop: %v %v, want only someone else's address", addrs.list(), r.routes.on)
	}
	scope := NewScope(nodeConfig(t, sprintf(policy, route)))
	if !scope.routes[rt] || !scope.routes[rl] || !scope.allowsVIP(vip.Addr{Interface: "eth0", Prefix: netip.MustParsePrefix("198.51.100.1/24")}) {
		t.Errorf("recovery scope lacks the static entries: %+v", scope)
	}
}

// An instance without VRRP (BGP health mode) starts only once its checks
// have said something: it never holds its addresses before an init_fail
// check has passed. An instance a reload restarts gets its checks' last
// state at once (it started with none, and an unchanged check reports
// nothing new).
func TestInstancesStartWithTheirChecksState(t *testing.T) {
	addrs := newFakeAddrs()
	r := newRig(t, addrs)
	policy := `
check "web" {
  plugin = "http-probe"
  weight = 0
}
check "db" {
  plugin = "http-probe"
  weight = -50
}
instance "WEB" {
  vips     = ["203.0.113.20/32"]
  priority = { n1 = 100, n2 = 100 }
  track    = ["web"]
  bgp      = "health"
}
instance "VI_2" {
  vrid     = 2
  version  = 3
  advert_interval = "10ms"
  vips     = ["192.0.2.12/24"]
  priority = { n1 = %d, n2 = 100 }
  track    = ["db"]
}
bgp {
  asn = 65001
  peer "tor" {
    address = "192.0.2.254"
    asn     = 65000
  }
}
`
	if err := r.e.Apply(nodeConfig(t, sprintf(policy, 200))); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_2", "MASTER")
	time.Sleep(50 * time.Millisecond)
	if st := r.state("WEB"); st != "INIT" || addrs.has("lo 203.0.113.20/32") {
		t.Fatalf("WEB before its check said anything: %s, addresses %v", st, addrs.list())
	}
	r.e.SetCheck("web", true, "init_fail")
	r.waitState(t, "WEB", "FAULT")
	r.e.SetCheck("web", false, "passes")
	r.waitState(t, "WEB", "MASTER")
	if !addrs.has("lo 203.0.113.20/32") {
		t.Errorf("WEB master without its address: %v", addrs.list())
	}

	r.e.SetCheck("db", true, "db down")
	r.waitFor(t, "VI_2 at 150", func(Status) bool {
		for _, s := range r.e.Status() {
			if s.Name == "VI_2" {
				return s.Priority == 150
			}
		}
		return false
	})
	// A reload that restarts VI_2: it starts at 190 - 50, not 190.
	if err := r.e.Apply(nodeConfig(t, sprintf(policy, 190))); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.e.Status() {
		if s.Name == "VI_2" && s.Priority != 140 {
			t.Errorf("VI_2 restarted at priority %d, want 140 (its failing check's weight kept)", s.Priority)
		}
	}
}
