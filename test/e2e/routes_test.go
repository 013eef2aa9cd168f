package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestRoutesMoveWithMaster: keepalived's virtual_routes and virtual_rules
// (OpenStack Neutron's HA routers depend on them): the master holds the
// route and the rule, the backup does not; they move with a failover; a
// route someone else added is never removed; one someone else deletes
// from the master is put back; a SIGKILLed master's are removed when it
// starts again.
func TestRoutesMoveWithMaster(t *testing.T) {
	l := lab.New(t, 2)
	s := site{version: 3, interval: "100ms"}
	pol := s.policy(t, l, 2, 1)
	b, _ := os.ReadFile(pol)
	withRoutes := strings.Replace(string(b), "  priority        = {", `  route {
    to    = "198.51.100.0/24"
    via   = "192.0.2.254"
    dev   = "eth0"
    table = 100
    onlink = true
  }
  route {
    to   = "203.0.113.0/24"
    type = "blackhole"
  }
  rule {
    from     = "192.0.2.101"
    table    = 100
    priority = 1000
  }
  priority        = {`, 1)
	os.WriteFile(pol, []byte(withRoutes), 0o644)
	routes := func(n *lab.Node) string {
		return n.MustExec("ip", "route", "show", "table", "all") + n.MustExec("ip", "rule")
	}
	holds := func(n *lab.Node) bool {
		out := routes(n)
		return strings.Contains(out, "198.51.100.0/24 via 192.0.2.254 dev eth0 table 100") &&
			strings.Contains(out, "blackhole 203.0.113.0/24") && strings.Contains(out, "1000:\tfrom 192.0.2.101 lookup 100")
	}
	n1, n2 := l.Nodes[0], l.Nodes[1]
	// A route n2's operator added by hand: the same blackhole.
	n2.MustExec("ip", "route", "add", "blackhole", "203.0.113.0/24")
	v1 := startVigil(t, l, n1, pol)
	v2 := startVigil(t, l, n2, pol)
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	lab.WaitFor(t, 2*time.Second, "n1 to hold its routes and rule", func() bool { return holds(n1) })
	if out := routes(n2); strings.Contains(out, "198.51.100.0/24") || strings.Contains(out, "lookup 100") {
		t.Errorf("the backup has the master's routes:\n%s", out)
	}
	// A network manager reapplies its configuration: the master's route
	// and rule, then a flush of table 100, are put back at once.
	n1.MustExec("ip", "route", "del", "198.51.100.0/24", "table", "100")
	n1.MustExec("ip", "rule", "del", "pref", "1000")
	lab.WaitFor(t, 2*time.Second, "n1 to put back its route and rule", func() bool { return holds(n1) })
	n1.MustExec("ip", "route", "flush", "table", "100")
	lab.WaitFor(t, 2*time.Second, "n1 to put back its flushed route", func() bool { return holds(n1) })
	if !strings.Contains(v1.Output(), "route 198.51.100.0/24 via 192.0.2.254 dev eth0 table 100 onlink was removed by someone else; put back") {
		t.Errorf("n1 did not log the route it put back:\n%s", v1.Output())
	}
	v1.Stop(syscall.SIGKILL, time.Second) // n1 crashes: its routes stay behind
	lab.WaitFor(t, 3*time.Second, "n2 to take over with the routes", func() bool { return holds(n2) })
	if !strings.Contains(v2.Output(), "blackhole 203.0.113.0/24 was already there") {
		t.Errorf("n2 did not report the route it found:\n%s", v2.Output())
	}
	v1 = startVigil(t, l, n1, pol)
	lab.WaitFor(t, 5*time.Second, "n1's restart to remove what the crash left", func() bool {
		return !strings.Contains(routes(n1), "198.51.100.0/24") && !strings.Contains(routes(n1), "lookup 100")
	})
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second) // n1 preempts
	lab.WaitFor(t, 3*time.Second, "the routes back on n1", func() bool { return holds(n1) })
	if out := routes(n2); strings.Contains(out, "198.51.100.0/24") || !strings.Contains(out, "blackhole 203.0.113.0/24") {
		t.Errorf("n2 after handing over: want its operator's blackhole only:\n%s", out)
	}
	if err := v1.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	lab.WaitFor(t, 3*time.Second, "the routes to move to n2 again", func() bool { return holds(n2) })
	if out := routes(n1); strings.Contains(out, "198.51.100.0/24") || strings.Contains(out, "203.0.113.0/24") || strings.Contains(out, "lookup 100") {
		t.Errorf("n1 kept routes after SIGTERM:\n%s", out)
	}
}

// TestStaticHeldWhileRunning: static addresses, routes and rules
// (keepalived's static_ipaddress, static_routes, static_rules) are on from
// the start to the stop, whatever the instance does; one the operator
// added by hand stays after the stop; a SIGKILLed run's are taken over by
// the next start, and one someone deletes comes back.
func TestStaticHeldWhileRunning(t *testing.T) {
	l := lab.New(t, 1)
	s := site{version: 3, interval: "100ms"}
	pol := s.policy(t, l, 1, 1)
	b, _ := os.ReadFile(pol)
	os.WriteFile(pol, append(b, []byte(`
static {
  address {
    address = "198.51.100.1/24"
    label   = "eth0:st"
  }
  address {
    address = "198.51.100.9/24"
  }
  route {
    to    = "203.0.113.0/24"
    via   = "198.51.100.254"
    table = 100
  }
  rule {
    from     = "198.51.100.0/24"
    table    = 100
    priority = 1000
  }
}
`)...), 0o644)
	n := l.Nodes[0]
	n.MustExec("ip", "addr", "add", "198.51.100.9/24", "dev", "eth0") // the operator's
	state := func() string {
		return n.MustExec("ip", "addr", "show", "dev", "eth0") + n.MustExec("ip", "route", "show", "table", "100") + n.MustExec("ip", "rule")
	}
	holds := func() bool {
		out := state()
		return strings.Contains(out, "198.51.100.1/24") && strings.Contains(out, "eth0:st") &&
			strings.Contains(out, "203.0.113.0/24 via 198.51.100.254") && strings.Contains(out, "1000:\tfrom 198.51.100.0/24 lookup 100")
	}
	v := startVigil(t, l, n, pol)
	lab.WaitFor(t, 3*time.Second, "the static entries", holds)
	if !strings.Contains(v.Output(), "198.51.100.9/24 is already configured on eth0 and was not added by Vigil") {
		t.Errorf("no line for the operator's address:\n%s", v.Output())
	}
	n.MustExec("ip", "addr", "del", "198.51.100.1/24", "dev", "eth0") // the route via it goes too
	lab.WaitFor(t, 3*time.Second, "the static address and its route back", holds)
	v.Stop(syscall.SIGKILL, time.Second)
	v = startVigil(t, l, n, pol)
	lab.WaitFor(t, 3*time.Second, "the static entries after a crash", holds)
	if err := v.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	out := state()
	if strings.Contains(out, "198.51.100.1/24") || strings.Contains(out, "203.0.113.0/24") || strings.Contains(out, "lookup 100") {
		t.Errorf("static entries left after SIGTERM:\n%s", out)
	}
	if !strings.Contains(out, "198.51.100.9/24") {
		t.Errorf("the operator's address was removed:\n%s", out)
	}
}
