package firewall_test

import (
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/firewall"
	"github.com/vigil-ha/vigil/test/lab"
)

// TestDropsOnlyWhatItIsTold: with the table in place, a client reaches
// neither the IPv4 nor the IPv6 address it names (the connection times
// out, nothing answers) but still reaches the node's own address; the
// table goes when emptied and on Remove, and nft (the real tool) agrees.
func TestDropsOnlyWhatItIsTold(t *testing.T) {
	lab.Require(t, "nft")
	l := lab.New(t, 1)
	n := l.Nodes[0]
	vip4, vip6 := netip.MustParseAddr("192.0.2.50"), netip.MustParseAddr("2001:db8::50")
	n.MustExec("ip", "addr", "add", vip4.String()+"/24", "dev", "eth0")
	n.MustExec("ip", "addr", "add", vip6.String()+"/64", "dev", "eth0", "nodad")
	n.ServeName(8080)
	reach := func(a netip.Addr) bool {
		_, err := l.Client.Probe(a, 8080, 300*time.Millisecond)
		return err == nil
	}
	for _, a := range []netip.Addr{vip4, vip6, n.Addr4} {
		if !reach(a) {
			t.Fatalf("%v unreachable before any rule", a)
		}
	}
	tbl := &firewall.Tables{}
	drop := func(addrs ...netip.Addr) {
		t.Helper()
		var err error
		n.Do(func() { err = tbl.Drop(addrs) })
		if err != nil {
			t.Fatal(err)
		}
	}
	nft := func() string { out, _ := n.Exec("nft", "list", "tables"); return out }
	drop(vip4, vip6)
	if !strings.Contains(nft(), "table inet vigil") {
		t.Fatalf("nft list tables: %q", nft())
	}
	for _, a := range []netip.Addr{vip4, vip6} {
		if reach(a) {
			t.Errorf("%v reachable with accept mode off", a)
		}
	}
	if !reach(n.Addr4) {
		t.Error("the node's own address was dropped too")
	}
	// IPv6 neighbor discovery still works: the client learned the VIP's MAC.
	if out, _ := l.Client.Exec("ip", "-6", "neigh", "show", vip6.String()); !strings.Contains(out, "lladdr") {
		t.Errorf("no neighbor entry for %v: %q", vip6, out)
	}
	drop(vip4) // replaced, atomically
	if reach(vip4) || !reach(vip6) {
		t.Error("replacing the addresses did not take")
	}
	tbl.Close()
	tbl = &firewall.Tables{}
	drop() // emptied: the table goes
	if strings.Contains(nft(), "vigil") {
		t.Errorf("table left after emptying: %q", nft())
	}
	drop(vip4)
	var err error
	n.Do(func() { err = firewall.Remove() })
	if err != nil || strings.Contains(nft(), "vigil") || !reach(vip4) {
		t.Errorf("Remove: %v; tables %q", err, nft())
	}
	n.Do(func() { err = firewall.Remove() }) // nothing there: no error
	if err != nil {
		t.Error(err)
	}
}

// TestTableIsVigilsAlone: a table of Vigil's name that someone else made
// (other chains) is never changed or removed; Vigil's own table, removed
// by someone else's `nft flush ruleset`, is put back while its addresses
// are in force.
func TestTableIsVigilsAlone(t *testing.T) {
	lab.Require(t, "nft")
	l := lab.New(t, 1)
	n := l.Nodes[0]
	vip4 := netip.MustParseAddr("192.0.2.50")
	n.MustExec("nft", "add", "table", "inet", "vigil")
	n.MustExec("nft", "add", "chain", "inet", "vigil", "theirs")
	var err error
	n.Do(func() { err = (&firewall.Tables{}).Drop([]netip.Addr{vip4}) })
	if !errors.Is(err, firewall.ErrNotOurs) {
		t.Errorf("Drop over someone else's table: %v", err)
	}
	n.Do(func() { err = firewall.Remove() })
	if out := n.MustExec("nft", "list", "table", "inet", "vigil"); !errors.Is(err, firewall.ErrNotOurs) || !strings.Contains(out, "chain theirs") {
		t.Errorf("Remove of someone else's table: %v; left %q", err, out)
	}
	n.MustExec("nft", "delete", "table", "inet", "vigil")

	defer func(old time.Duration) { firewall.WatchEvery = old }(firewall.WatchEvery)
	firewall.WatchEvery = 50 * time.Millisecond
	// Several rounds: the table must come back in the lab node's
	// namespace, never in the host's, whichever OS thread (the main one
	// included) the lab's calls ran on.
	for round := range 6 {
		restored := make(chan error, 10)
		tbl := &firewall.Tables{Restored: func(err error) { restored <- err }}
		n.Do(func() { err = tbl.Drop([]netip.Addr{vip4}) })
		if err != nil {
			t.Fatal(err)
		}
		n.MustExec("nft", "flush", "ruleset")
		select {
		case err := <-restored:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the table was not put back after nft flush ruleset")
		}
		host, _ := exec.Command("nft", "list", "tables").CombinedOutput()
		if out := n.MustExec("nft", "list", "tables"); !strings.Contains(out, "table inet vigil") || strings.Contains(string(host), "table inet vigil") {
			t.Errorf("round %d, after the restore: lab %q, host %q", round, out, host)
		}
		n.Do(func() { err = tbl.Close() })
		if out := n.MustExec("nft", "list", "tables"); err != nil || strings.Contains(out, "vigil") {
			t.Errorf("Close: %v; tables %q", err, out)
		}
		if host, _ := exec.Command("nft", "list", "tables").CombinedOutput(); strings.Contains(string(host), "table inet vigil") {
			exec.Command("nft", "delete", "table", "inet", "vigil").Run()
			t.Fatalf("round %d: a table was made in the host's namespace", round)
		}
	}
}
