package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/transport"
	"github.com/vigil-ha/vigil/core/vrrp"
	"github.com/vigil-ha/vigil/test/lab"
)

// TestOwnerKeepsItsAddress: a node that is the RFC 5798 address owner (its
// own address is the VIP, priority 255) keeps its address and its routes
// through start, a conflicting owner on the wire, SIGTERM, and SIGKILL with
// a restart. keepalived 2.2.7 deletes the node's own address, and its
// connected and default routes with it, at start, stop and FAULT.
func TestOwnerKeepsItsAddress(t *testing.T) {
	l := lab.New(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	n1.MustExec("ip", "route", "add", "default", "via", "192.0.2.254", "dev", "eth0")
	pol := filepath.Join(l.Dir, "owner.hcl")
	os.WriteFile(pol, []byte(fmt.Sprintf(`
node "n1" {
  interface = "eth0"
  address   = %q
}

instance "VI_1" {
  vrid            = 50
  version         = 3
  advert_interval = "100ms"
  vips            = ["%s/24"]
  priority        = { n1 = 255 }
}
`, n1.Addr4, n1.Addr4)), 0o644)
	intact := func(step string) {
		t.Helper()
		if !n1.HasAddr(n1.Addr4) {
			t.Fatalf("after %s: n1 lost its own address %v", step, n1.Addr4)
		}
		routes := n1.MustExec("ip", "-4", "route", "show")
		if !strings.Contains(routes, "default via 192.0.2.254") || !strings.Contains(routes, "192.0.2.0/24 dev eth0") {
			t.Fatalf("after %s: n1's routes are gone:\n%s", step, routes)
		}
	}
	v := startVigil(t, l, n1, pol)
	lab.WaitFor(t, 5*time.Second, "n1 MASTER", func() bool { return v.state("VI_1") == "MASTER" })
	intact("start")

	// Another router claims ownership of VRID 50 from a higher address.
	var conn *transport.Conn
	n2.Do(func() {
		var err error
		if conn, err = transport.Listen("eth0", false, n2.Addr4); err != nil {
			t.Fatal(err)
		}
	})
	defer conn.Close()
	adv := vrrp.Advert{Version: vrrp.V3, VRID: 50, Priority: 255, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{n1.Addr4}}
	msg, err := adv.AppendMarshal(nil, n2.Addr4, vrrp.GroupV4)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := conn.Send(msg, vrrp.GroupV4); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	lab.WaitFor(t, 3*time.Second, "the conflict logged", func() bool {
		return v.Count("VI_1 another router claims to own VRID 50 (priority 255)") > 0
	})
	intact("a conflicting owner")

	if err := v.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, v.Output())
	}
	intact("SIGTERM")

	v = startVigil(t, l, n1, pol)
	lab.WaitFor(t, 5*time.Second, "n1 MASTER again", func() bool { return v.state("VI_1") == "MASTER" })
	v.Stop(syscall.SIGKILL, time.Second)
	intact("SIGKILL")
	v = startVigil(t, l, n1, pol)
	lab.WaitFor(t, 5*time.Second, "n1 MASTER after the crash", func() bool { return v.state("VI_1") == "MASTER" })
	intact("restart after SIGKILL")
	if v.Count("removed VIP left by a previous run") != 0 {
		t.Errorf("crash recovery removed something:\n%s", v.Output())
	}
	v.Stop(syscall.SIGTERM, 5*time.Second)
	intact("the last stop")
}
