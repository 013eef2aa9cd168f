package e2e

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/plugins/builtin"
	"github.com/vigil-ha/vigil/test/lab"
)

const bgpVIP = "203.0.113.10"

// bgpLab is two nodes and an FRR router on the segment, a client behind
// the router, and a web server on each node saying which node served.
func bgpLab(t *testing.T, bfd time.Duration) (*lab.Lab, *lab.Router) {
	return bgpLabWith(t, bfd, "")
}

// bgpLabWith is bgpLab with the router's sessions signed with TCP MD5
// key md5 (none when "").
func bgpLabWith(t *testing.T, bfd time.Duration, md5 string) (*lab.Lab, *lab.Router) {
	l := lab.New(t, 2)
	r := l.AddRouter("r1", 1)
	var addrs []netip.Addr
	for _, n := range l.Nodes {
		n.RouteVia(r)
		addrs = append(addrs, n.Addr4)
		name := n.Name
		n.ServeHTTP(80, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "served by %s", name) }))
	}
	conf := lab.BGPConf(65000, r.Addr4, 65001, addrs, bfd)
	if md5 != "" {
		var pw strings.Builder
		for _, a := range addrs {
			fmt.Fprintf(&pw, " neighbor %v password %s\n", a, md5)
		}
		conf.BGPD = strings.Replace(conf.BGPD, " address-family", pw.String()+" address-family", 1)
	}
	r.Start(conf)
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

// bgpSiteHead is the site and node blocks of the BGP labs' policies.
func bgpSiteHead(l *lab.Lab) string {
	return fmt.Sprintf(`site "lab" {
  plugin_user = "nobody"
}

node "n1" {
  interface = "eth0"
  address   = %q
}

node "n2" {
  interface = "eth0"
  address   = %q
}
`, l.Nodes[0].Addr4, l.Nodes[1].Addr4)
}

// withBFD rewrites a lab policy's bgp block: hold time 3 s, and BFD at
// bfd (x3) on the session with r1 when bfd is not 0.
func withBFD(t *testing.T, pol string, bfd time.Duration) {
	b, err := os.ReadFile(pol)
	if err != nil {
		t.Fatal(err)
	}
	extra := "  hold_time = \"3s\"\n"
	src := string(b)
	if bfd > 0 {
		extra += fmt.Sprintf("  peer \"r1\" {\n    address = \"192.0.2.1\"\n    asn     = 65000\n    bfd {\n      min_rx = %q\n      min_tx = %q\n    }\n  }\n", bfd, bfd)
		src = strings.Replace(src, "\n  peer \"r1\" {\n    address = \"192.0.2.1\"\n    asn     = 65000\n  }\n", "\n", 1)
	}
	src = strings.Replace(src, "bgp {\n  asn = 65001\n", "bgp {\n  asn = 65001\n"+extra, 1)
	if err := os.WriteFile(pol, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bgpPolicy is a VRRP instance on the segment whose master also announces
// its address to the router.
func bgpPolicy(t *testing.T, l *lab.Lab, peerExtra string) string {
	src := bgpSiteHead(l) + fmt.Sprintf(`
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
`, bgpVIP, peerExtra)
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
	// The sessions are signed (TCP MD5), as a router's are.
	l, r := bgpLabWith(t, 0, "lab-md5-key")
	pol := bgpPolicy(t, l, `    password = "lab-md5-key"`)
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

// webCheck is the health-mode tests' check: the node's nginx answers,
// every 100 ms; nothing counts before it has passed.
func webCheck() string {
	return fmt.Sprintf(`
check "web" {
  plugin    = "http-probe"
  interval  = "100ms"
  timeout   = "80ms"
  weight    = 0
  init_fail = true

  config {
    url = "http://127.0.0.1:%d/"
  }
}
`, probePort)
}

// healthPolicy is two instances without VRRP: every node whose nginx
// answers announces the address; VI_20's nodes tie (ECMP), VI_21 prefers
// n1.
func healthPolicy(t *testing.T, l *lab.Lab) string {
	src := bgpSiteHead(l) + webCheck() + `
instance "VI_20" {
  vips     = ["203.0.113.20/32"]
  priority = { n1 = 100, n2 = 100 }
  track    = ["web"]
  bgp      = "health"
}

instance "VI_21" {
  vips     = ["203.0.113.21/32"]
  priority = { n1 = 100, n2 = 90 }
  track    = ["web"]
  bgp      = "health"
}

bgp {
  asn = 65001

  peer "r1" {
    address = "192.0.2.1"
    asn     = 65000
  }
}
`
	path := l.Dir + "/health.hcl"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBGPHealthMode: no VRRP; each node whose nginx answers holds the
// addresses on lo and announces them: equal priorities give the router
// two paths (ECMP), unequal ones the best; nginx dying on n1 withdraws
// n1's routes and the far client is served by n2; nginx back brings them
// back. The times from the kill to the router's change and to the far
// client's first reply from n2 are logged.
func TestBGPHealthMode(t *testing.T) {
	lab.Require(t, "nginx")
	l, r := bgpLab(t, 0)
	nginx1 := l.Nodes[0].StartNginx(probePort)
	l.Nodes[1].StartNginx(probePort)
	pol := healthPolicy(t, l)
	v1 := startVigil(t, l, l.Nodes[0], pol)
	v2 := startVigil(t, l, l.Nodes[1], pol)
	defer func() {
		if t.Failed() {
			t.Logf("n1:\n%s\nn2:\n%s\nrouter:\n%s", v1.Output(), v2.Output(), r.Vtysh("show bgp summary", "show ip bgp"))
		}
	}()
	both := []string{"192.0.2.11", "192.0.2.12"}
	hops := func(p string) []string { h := r.NextHops(p); slices.Sort(h); return h }
	// What vigil plan predicts is what the router does.
	site, _, diags := policy.Load(pol, policy.Options{Builtins: builtin.Kinds()})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	predicted := map[string]string{}
	for _, ip := range site.Plan("").Instances {
		var routed []string
		for _, np := range ip.Order {
			if np.Priority == ip.Order[0].Priority {
				routed = append(routed, l.Nodes[slices.IndexFunc(l.Nodes, func(n *lab.Node) bool { return n.Name == np.Node })].Addr4.String())
			}
		}
		slices.Sort(routed)
		predicted[ip.Name] = strings.Join(routed, " ")
	}
	if predicted["VI_20"] != strings.Join(both, " ") || predicted["VI_21"] != "192.0.2.11" {
		t.Fatalf("plan predicts %v", predicted)
	}
	lab.WaitFor(t, 15*time.Second, "ECMP to both nodes for VI_20, as planned", func() bool { return strings.Join(hops("203.0.113.20"), " ") == predicted["VI_20"] })
	lab.WaitFor(t, 3*time.Second, "VI_21 via n1 alone, as planned", func() bool { return strings.Join(hops("203.0.113.21"), " ") == predicted["VI_21"] })
	url := fmt.Sprintf("203.0.113.21:%d", probePort)
	lab.WaitFor(t, 3*time.Second, "the far client served by n1", func() bool { return strings.Contains(farGet(r, url), "n1") })
	if !l.Nodes[0].HasAddr(netip.MustParseAddr("203.0.113.20")) || !strings.Contains(l.Nodes[0].MustExec("ip", "addr", "show", "dev", "lo"), "203.0.113.20/32") {
		t.Errorf("n1 does not hold VI_20's address on lo")
	}

	killed := time.Now()
	nginx1.KillTree()
	var routerAt time.Duration
	lab.WaitFor(t, 5*time.Second, "n1's routes withdrawn", func() bool {
		ok := slices.Equal(hops("203.0.113.21"), []string{"192.0.2.12"}) && slices.Equal(hops("203.0.113.20"), []string{"192.0.2.12"})
		if ok {
			routerAt = time.Since(killed)
		}
		return ok
	})
	lab.WaitFor(t, 3*time.Second, "the far client served by n2", func() bool { return strings.Contains(farGet(r, url), "n2") })
	t.Logf("nginx killed on n1: router's RIB changed after %v, far client served by n2 after %v",
		routerAt.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	if l.Nodes[0].HasAddr(netip.MustParseAddr("203.0.113.20")) {
		t.Errorf("n1 kept the address after its check failed")
	}

	l.Nodes[0].StartNginx(probePort)
	lab.WaitFor(t, 5*time.Second, "n1 back", func() bool {
		return slices.Equal(hops("203.0.113.20"), both) && slices.Equal(hops("203.0.113.21"), []string{"192.0.2.11"})
	})
	st, err := api.Fetch(v1.socket)
	if err != nil || st.BGP == nil || len(st.BGP.Announced) != 2 || st.BGP.Announced[0].MED != 155 {
		t.Errorf("n1's BGP status: %+v (%v)", st.BGP, err)
	}
}

// TestBGPNodeFailureDetection: a node whose link is cut (its agent cannot
// withdraw anything) leaves the router's ECMP set after the hold time
// (3 s here, the shortest RFC 4271 allows) with BGP alone, and within BFD's
// detection time (3 x 100 ms) with BFD on the session. Both times are
// logged.
func TestBGPNodeFailureDetection(t *testing.T) {
	for _, c := range []struct {
		name  string
		bfd   time.Duration
		limit time.Duration
	}{{"hold timer", 0, 5 * time.Second}, {"BFD", 100 * time.Millisecond, time.Second}} {
		t.Run(c.name, func(t *testing.T) {
			l, r := bgpLab(t, c.bfd)
			pol := healthPolicy(t, l)
			withBFD(t, pol, c.bfd)
			for _, n := range l.Nodes {
				n.StartNginx(probePort)
				startVigil(t, l, n, pol)
			}
			both := []string{"192.0.2.11", "192.0.2.12"}
			hops := func() []string { h := r.NextHops("203.0.113.20"); slices.Sort(h); return h }
			lab.WaitFor(t, 15*time.Second, "ECMP to both nodes", func() bool { return slices.Equal(hops(), both) })
			if c.bfd > 0 {
				r.WaitBFD(2, c.bfd)
				// GoBGP resets a session once while its BFD session
				// comes up: both paths are back before the clock starts.
				lab.WaitFor(t, 20*time.Second, "ECMP with BFD up", func() bool { return slices.Equal(hops(), both) })
			}
			cut := time.Now()
			l.Nodes[0].CutLink()
			lab.WaitFor(t, c.limit, "n1 out of the ECMP set", func() bool { return slices.Equal(hops(), []string{"192.0.2.12"}) })
			t.Logf("%s: n1's link cut, router's RIB changed after %v", c.name, time.Since(cut).Round(time.Millisecond))
		})
	}
}

// clientLoop has the far client fetch url every 20 ms (each request a
// new connection, up to 3 s each) until stop; it returns the status of
// each request in order ("200", or curl's "000" for a failure).
func clientLoop(r *lab.Router, url string) (stop func() []string) {
	p := r.Far.Start("client", "bash", "-c", `while :; do curl -s -m 3 -o /dev/null -w '%{http_code}\n' `+url+`; sleep 0.02; done`)
	return func() []string {
		p.Stop(syscall.SIGKILL, time.Second)
		return strings.Fields(p.Output())
	}
}

// TestBGPStopLosesNoClient: an agent stopped by SIGTERM (as systemd stops
// it, and an upgrade restarts it) fails no client request, in health mode
// (its routes are withdrawn while it still holds the addresses) and in
// master mode (VRRP hands over, the new master announces).
func TestBGPStopLosesNoClient(t *testing.T) {
	lab.Require(t, "nginx")
	for _, mode := range []string{"health", "master"} {
		t.Run(mode, func(t *testing.T) {
			l, r := bgpLab(t, 0)
			var pol, addr string
			for _, n := range l.Nodes {
				n.StartNginx(probePort)
			}
			if mode == "health" {
				pol, addr = healthPolicy(t, l), "203.0.113.20"
			} else {
				pol, addr = bgpPolicy(t, l, ""), bgpVIP
			}
			v1 := startVigil(t, l, l.Nodes[0], pol)
			startVigil(t, l, l.Nodes[1], pol)
			lab.WaitFor(t, 15*time.Second, "a route via n1", func() bool { return slices.Contains(r.NextHops(addr), "192.0.2.11") })
			if mode == "health" {
				lab.WaitFor(t, 5*time.Second, "ECMP", func() bool { return len(r.NextHops(addr)) == 2 })
			}
			stop := clientLoop(r, fmt.Sprintf("http://%s:%d/", addr, probePort))
			time.Sleep(500 * time.Millisecond)
			if err := v1.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			lab.WaitFor(t, 5*time.Second, "the route via n2 alone", func() bool { return slices.Equal(r.NextHops(addr), []string{"192.0.2.12"}) })
			time.Sleep(500 * time.Millisecond)
			codes := stop()
			failed := 0
			for _, c := range codes {
				if c != "200" {
					failed++
				}
			}
			t.Logf("%s mode: %d requests across the SIGTERM, %d failed", mode, len(codes), failed)
			if failed > 0 || len(codes) < 10 {
				t.Errorf("%d of %d requests failed: %v\nn1:\n%s", failed, len(codes), codes, v1.Output())
			}
		})
	}
}

// TestBGPDamping: a check that flaps every 150 ms for 3 s (the agent's own
// flap hold lets a failure through every second or so) withdraws the route
// at once, but the route is announced again only once the damping time
// (5 s) has passed: one withdrawal and one re-announcement, where without
// damping each failure the check lets through moves the route.
func TestBGPDamping(t *testing.T) {
	l, r := bgpLab(t, 0)
	dir := pluginDir(t)
	flag := dir + "/in-service"
	os.WriteFile(flag, []byte("ok"), 0o644)
	pol := healthPolicy(t, l)
	b, _ := os.ReadFile(pol)
	src := strings.Replace(string(b), "bgp {\n  asn = 65001\n", "bgp {\n  asn = 65001\n  damping = \"5s\"\n", 1)
	src = strings.Replace(src, `track    = ["web"]`, `track    = ["flag"]`, -1)
	src += fmt.Sprintf(`
check "flag" {
  plugin   = "file-check"
  interval = "1s"
  weight   = 0
  nodes    = ["n1"]

  config {
    path = %q
    poll = "20ms"
  }
}

plugin "file-check" {
  path   = %q
  sha256 = %q
}
`, flag, fileCheckBin, sha(t, fileCheckBin))
	os.WriteFile(pol, []byte(src), 0o644)
	v1 := startVigil(t, l, l.Nodes[0], pol)
	lab.WaitFor(t, 15*time.Second, "n1's route", func() bool { return slices.Equal(r.NextHops("203.0.113.21"), []string{"192.0.2.11"}) })
	start, _ := api.Fetch(v1.socket)
	for i := 0; i < 20; i++ {
		if i%2 == 0 {
			os.Remove(flag)
		} else {
			os.WriteFile(flag, []byte("ok"), 0o644)
		}
		time.Sleep(150 * time.Millisecond)
	}
	os.WriteFile(flag, []byte("ok"), 0o644)
	lab.WaitFor(t, 8*time.Second, "n1's route back after the flapping", func() bool { return slices.Equal(r.NextHops("203.0.113.21"), []string{"192.0.2.11"}) })
	end, err := api.Fetch(v1.socket)
	if err != nil || start.BGP == nil || end.BGP == nil {
		t.Fatalf("status: %v", err)
	}
	// Two routes (VI_20 and VI_21) per announcement.
	ann, wd := (end.BGP.Announcements-start.BGP.Announcements)/2, (end.BGP.Withdrawals-start.BGP.Withdrawals)/2
	t.Logf("10 failures in 3 s (%d seen past the check's own flap hold): %d withdrawals, %d re-announcements (damping 5s)", v1.Count("VI_21 entering FAULT"), wd, ann)
	if ann != 1 || wd != 1 {
		t.Errorf("%d re-announcements and %d withdrawals in 3 s with damping 5s, want 1 and 1", ann, wd)
	}
}

// TestBGPSpeakerRestarts: the speaker process dies (SIGKILL); the router
// drops n1's routes with the session, the agent starts the speaker again
// and it announces exactly the current set: the ECMP set comes back, the
// agent counts the restart and never moved an address.
func TestBGPSpeakerRestarts(t *testing.T) {
	lab.Require(t, "nginx")
	l, r := bgpLab(t, 0)
	pol := healthPolicy(t, l)
	var v1 *vigilNode
	for i, n := range l.Nodes {
		n.StartNginx(probePort)
		v := startVigil(t, l, n, pol)
		if i == 0 {
			v1 = v
		}
	}
	both := []string{"192.0.2.11", "192.0.2.12"}
	hops := func() []string { h := r.NextHops("203.0.113.20"); slices.Sort(h); return h }
	lab.WaitFor(t, 15*time.Second, "ECMP", func() bool { return slices.Equal(hops(), both) })
	faults := v1.Count("entering FAULT")
	speaker := pluginPID(v1.Cmd.Process.Pid, filepath.Join(filepath.Dir(vigilBin), "vigil-bgp"))
	if speaker == 0 {
		t.Fatal("no vigil-bgp child of n1's agent")
	}
	syscall.Kill(speaker, syscall.SIGKILL)
	lab.WaitFor(t, 5*time.Second, "n1's routes gone with its session", func() bool { return slices.Equal(hops(), []string{"192.0.2.12"}) })
	lab.WaitFor(t, 15*time.Second, "ECMP again from the restarted speaker", func() bool { return slices.Equal(hops(), both) })
	st, err := api.Fetch(v1.socket)
	if err != nil || st.BGP == nil || st.BGP.Restarts != 1 || len(st.BGP.Announced) != 2 {
		t.Errorf("n1's BGP status after the restart: %+v (%v)", st.BGP, err)
	}
	if !l.Nodes[0].HasAddr(netip.MustParseAddr("203.0.113.20")) || v1.Count("entering FAULT") != faults {
		t.Errorf("the speaker's death moved an address or a state:\n%s", v1.Output())
	}
}

// TestBGPHealthModeIPv6: the same over IPv6: the nodes peer with the
// router's IPv6 address and announce a /128 held on lo; the router has two
// paths (ECMP) and the client behind it is served over IPv6.
func TestBGPHealthModeIPv6(t *testing.T) {
	lab.Require(t, "nginx")
	l := lab.New(t, 2)
	r := l.AddRouter("r1", 1)
	var addrs []netip.Addr
	for _, n := range l.Nodes {
		n.RouteVia(r)
		addrs = append(addrs, n.Addr6)
		n.StartNginx(probePort) // what the check watches (IPv4 only)
		name := n.Name
		n.ServeHTTP(8089, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "served by %s", name) }))
	}
	r.Start(lab.BGPConf(65000, r.Addr4, 65001, addrs, 0))
	src := bgpSiteHead(l) + webCheck() + fmt.Sprintf(`
instance "VI_6" {
  vips     = ["2001:db8:5::20/128"]
  priority = { n1 = 100, n2 = 100 }
  track    = ["web"]
  bgp      = "health"
}

bgp {
  asn = 65001

  peer "r1" {
    address = %q
    asn     = 65000
  }
}
`, r.Addr6)
	pol := l.Dir + "/health6.hcl"
	os.WriteFile(pol, []byte(src), 0o644)
	var v1 *vigilNode
	for i, n := range l.Nodes {
		v := startVigil(t, l, n, pol)
		if i == 0 {
			v1 = v
		}
	}
	lab.WaitFor(t, 15*time.Second, "two IPv6 paths", func() bool { return len(r.NextHops("2001:db8:5::20/128")) == 2 })
	lab.WaitFor(t, 3*time.Second, "the far client served over IPv6", func() bool {
		out, err := r.Far.Exec("curl", "-s", "-m", "0.5", "http://[2001:db8:5::20]:8089/")
		return err == nil && strings.Contains(out, "served by")
	})
	if !strings.Contains(l.Nodes[0].MustExec("ip", "-6", "addr", "show", "dev", "lo"), "2001:db8:5::20/128") {
		t.Errorf("n1 does not hold the address on lo:\n%s", v1.Output())
	}
}
