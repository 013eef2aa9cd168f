package route_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/route"
	"github.com/vigil-ha/vigil/test/lab"
)

// TestRoutesAndRules: added once (a second add finds it there), shown by
// ip route / ip rule as configured, removed once; a route someone else
// added is reported as there, not added.
func TestRoutesAndRules(t *testing.T) {
	l := lab.New(t, 1)
	n := l.Nodes[0]
	var c *route.Configurer
	n.Do(func() {
		var err error
		if c, err = route.New(); err != nil {
			t.Fatal(err)
		}
	})
	defer c.Close()
	gw := n.Addr4.Next() // on the node's subnet
	routes := []config.Route{
		{To: netip.MustParsePrefix("198.51.100.0/24"), Via: gw, Dev: "eth0", Table: 100, Metric: 10},
		{To: netip.MustParsePrefix("203.0.113.0/24"), Type: "blackhole"},
		{To: netip.MustParsePrefix("2001:db8:1::/48"), Dev: "eth0", Scope: "link"},
	}
	rules := []config.Rule{
		{From: netip.MustParsePrefix("192.0.2.100/32"), Table: 100, Priority: 1000},
		{FWMark: 0x10, FWMask: 0xff, Table: 100, Priority: 1001},
		{To: netip.MustParsePrefix("2001:db8:2::/48"), Table: 100, Priority: 1002},
	}
	for _, r := range routes {
		if added, err := c.AddRoute(r); err != nil || !added {
			t.Fatalf("add %v: added=%v %v", r, added, err)
		}
		if added, err := c.AddRoute(r); err != nil || added {
			t.Errorf("second add of %v: added=%v %v (want there already)", r, added, err)
		}
	}
	for _, r := range rules {
		if added, err := c.AddRule(r); err != nil || !added {
			t.Fatalf("add %v: added=%v %v", r, added, err)
		}
		if added, err := c.AddRule(r); err != nil || added {
			t.Errorf("second add of %v: added=%v %v (want there already)", r, added, err)
		}
	}
	out := n.MustExec("ip", "route", "show", "table", "all") + n.MustExec("ip", "-6", "route", "show", "table", "all") +
		n.MustExec("ip", "rule") + n.MustExec("ip", "-6", "rule")
	for _, want := range []string{"198.51.100.0/24 via " + gw.String() + " dev eth0 table 100 proto static metric 10", "blackhole 203.0.113.0/24",
		"2001:db8:1::/48 dev eth0", "1000:\tfrom 192.0.2.100 lookup 100", "1001:\tfrom all fwmark 0x10/0xff lookup 100", "1002:\tfrom all to 2001:db8:2::/48 lookup 100"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	for _, r := range routes {
		if removed, err := c.RemoveRoute(r); err != nil || !removed {
			t.Errorf("remove %v: removed=%v %v", r, removed, err)
		}
		if removed, err := c.RemoveRoute(r); err != nil || removed {
			t.Errorf("second remove of %v: removed=%v %v", r, removed, err)
		}
	}
	for _, r := range rules {
		if removed, err := c.RemoveRule(r); err != nil || !removed {
			t.Errorf("remove %v: removed=%v %v", r, removed, err)
		}
		if removed, err := c.RemoveRule(r); err != nil || removed {
			t.Errorf("second remove of %v: removed=%v %v", r, removed, err)
		}
	}
	if out := n.MustExec("ip", "rule"); strings.Contains(out, "lookup 100") {
		t.Errorf("rules left:\n%s", out)
	}
}
