package e2e

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/test/lab"
)

const bgpVIP = "203.0.113.10"

// bgpLab is two nodes and an FRR router on the segment, a client behind
// the router, and a web server on each node saying which node served.
func bgpLab(t *testing.T, bfd bool) (*lab.Lab, *lab.Router) {
	l := lab.New(t, 2)
	r := l.AddRouter("r1", 1)
	var addrs []netip.Addr
	for _, n := range l.Nodes {
		n.RouteVia(r)
		addrs = append(addrs, n.Addr4)
		name := n.Name
		n.ServeHTTP(80, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "served by %s", name) }))
	}
	r.Start(lab.BGPConf(65000, r.Addr4, 65001, addrs, bfd))
	return l, r
}

// farGet fetches http://addr/ from the client behind the router.
func farGet(r *lab.Router, addr string) string {
	out, err := r.Far.Exec("curl", "-s", "-m", "0.5", "http://"+addr+"/")
	if err != nil {
		return "error: " + err.Error()
	}
	return out
}

// bgpPolicy is a VRRP instance on the segment whose master also announces
// its address to the router.
func bgpPolicy(t *testing.T, l *lab.Lab, peerExtra string) string {
	src := fmt.Sprintf(`site "lab" {}

node "n1" {
  interface = "eth0"
  address   = %q
}

node "n2" {
  interface = "eth0"
  address   = %q
}

instance "VI_1" {
  vrid            = 31
  version         = 3
  advert_interval = "100ms"
  vips            = ["%s/32"]
  priority        = { n1 = 100, n2 = 90 }
  bgp             = "master"
}

bgp {
  asn       = 65001
  hold_time = "9s"

  peer "r1" {
    address = "192.0.2.1"
    asn     = 65000
%s
  }
}
`, l.Nodes[0].Addr4, l.Nodes[1].Addr4, bgpVIP, peerExtra)
	path := l.Dir + "/bgp.hcl"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBGPMasterMode: the VRRP master announces its VIP to the router as a
// host route and a client behind the router reaches it; a failover moves
// the route with the mastership; a SIGKILLed agent's speaker dies with it
// and the router drops its route at once (its session closes), not after
// the hold time; status shows the session and the route.
func TestBGPMasterMode(t *testing.T) {
	l, r := bgpLab(t, false)
	pol := bgpPolicy(t, l, "")
	v1 := startVigil(t, l, l.Nodes[0], pol)
	v2 := startVigil(t, l, l.Nodes[1], pol)
	defer func() {
		if t.Failed() {
			t.Logf("n1:\n%s\nn2:\n%s\nrouter:\n%s", v1.Output(), v2.Output(), r.Vtysh("show bgp summary", "show ip bgp"))
		}
	}()
	hops := func() []string { return r.NextHops(bgpVIP) }
	lab.WaitFor(t, 15*time.Second, "the router's route to the VIP via n1", func() bool { return slices.Equal(hops(), []string{"192.0.2.11"}) })
	lab.WaitFor(t, 3*time.Second, "the far client served by n1", func() bool { return farGet(r, bgpVIP) == "served by n1" })
	st, err := api.Fetch(v1.socket)
	if err != nil || st.BGP == nil || st.BGP.Peers["r1"].State != "established" || len(st.BGP.Announced) != 1 || st.BGP.Announced[0].Prefix.String() != bgpVIP+"/32" {
		t.Errorf("n1's BGP status: %+v (%v)", st.BGP, err)
	}
	if !strings.Contains(v1.Output(), "BGP peer r1 established") || !strings.Contains(v1.Output(), bgpVIP+"/32 announced") {
		t.Errorf("n1 did not log the session and the route:\n%s", v1.Output())
	}

	// Failover: n1 stops; n2 takes the VIP and the route.
	if err := v1.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	lab.WaitFor(t, 5*time.Second, "the route via n2", func() bool { return slices.Equal(hops(), []string{"192.0.2.12"}) })
	lab.WaitFor(t, 3*time.Second, "the far client served by n2", func() bool { return farGet(r, bgpVIP) == "served by n2" })
	if out := v1.Output(); !strings.Contains(out, bgpVIP+"/32 withdrawn") {
		t.Errorf("n1 did not log the withdrawal:\n%s", out)
	}

	// n2's agent is SIGKILLed: its speaker dies with it, the session
	// closes and the router drops the route at once.
	killed := time.Now()
	v2.Stop(syscall.SIGKILL, time.Second)
	lab.WaitFor(t, 2*time.Second, "the router to drop the route", func() bool { return len(hops()) == 0 })
	t.Logf("route gone %v after SIGKILL (hold time 9s)", time.Since(killed).Round(time.Millisecond))
}
