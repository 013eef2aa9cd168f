package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestBenchmarkBGP measures, in one lab (two nodes, an FRR router, a
// client behind the router), how long traffic takes to move when nginx
// dies on the node that serves an address, in BGP health mode, in BGP
// master mode and with VRRP alone; and how long the router takes to drop
// a node whose link is cut, with BGP's hold timer and with BFD. Report
// only: run with `make bench-bgp`.
func TestBenchmarkBGP(t *testing.T) {
	benchEnabled(t)
	const runs = 5
	var report strings.Builder
	report.WriteString("| mode | failure | to the withdrawal on the wire, ms | to the router's RIB change, ms | to the far client's first answer from n2, ms (min / median / max) |\n|---|---|---|---|---|\n")
	for _, row := range []struct{ name, mode, addr string }{
		{"BGP health mode (no VRRP), nginx-process", "health", "203.0.113.21"},
		{"BGP master mode (VRRPv3 100 ms), nginx-process", "master", bgpVIP},
		{"VRRP alone (VRRPv3 100 ms), nginx-process, router ARPs", "vrrp", "192.0.2.50"},
		{"ExaBGP 4.2 healthcheck (curl every 1 s, rise 1, fall 1)", "exabgp", "203.0.113.21"},
	} {
		l, r := bgpLab(t, 0)
		nginx := []*lab.Proc{l.Nodes[0].StartNginx(probePort), l.Nodes[1].StartNginx(probePort)}
		if row.mode == "exabgp" {
			for i, n := range l.Nodes {
				startExaBGP(t, l, n, row.addr, 155+10*i)
			}
		} else {
			pol := benchBGPPolicy(t, l, row.mode)
			for _, n := range l.Nodes {
				startVigil(t, l, n, pol)
			}
		}
		addr := netip.MustParseAddr(row.addr)
		served := func(by string, timeout time.Duration) time.Time {
			for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if body, err := r.Far.HTTPGet(addr, probePort, "bench", 20*time.Millisecond); err == nil && strings.Contains(body, by) {
					return time.Now()
				}
			}
			return time.Time{}
		}
		if served("n1", 20*time.Second).IsZero() {
			t.Fatalf("%s: the far client never reached n1", row.name)
		}
		var wireT, ribT, replyT []time.Duration
		wire := r.BGPFrom(l.Nodes[0].Addr4)
		for i := 0; i < runs; i++ {
			changes := r.RouteChanges(netip.PrefixFrom(addr, 32))
			killed := time.Now()
			nginx[0].KillTree()
			answered := served("n2", 10*time.Second)
			if answered.IsZero() {
				t.Fatalf("%s run %d: no answer from n2", row.name, i)
			}
			replyT = append(replyT, answered.Sub(killed))
			if row.mode != "vrrp" {
				lab.WaitFor(t, 5*time.Second, "the route via n2", func() bool { return slices.Equal(r.NextHops(row.addr), []string{"192.0.2.12"}) })
				ribT = append(ribT, changes(time.Now()).Sub(killed))
				if at := wire(killed); !at.IsZero() {
					wireT = append(wireT, at.Sub(killed))
				}
			}
			nginx[0] = l.Nodes[0].StartNginx(probePort)
			if served("n1", 20*time.Second).IsZero() {
				t.Fatalf("%s run %d: n1 never served again", row.name, i)
			}
			// Past the agent's FlapHold (a check's change within 1 s of
			// its last is held: core/track), as a real failure would be.
			time.Sleep(1500 * time.Millisecond)
		}
		rib, onWire := "-", "-"
		if len(ribT) > 0 {
			rib = stats(ribT).String()
		}
		if len(wireT) == runs {
			onWire = stats(wireT).String()
		}
		fmt.Fprintf(&report, "| %s | nginx killed on n1 | %s | %s | %s |\n", row.name, onWire, rib, stats(replyT))
	}
	for _, bfd := range []time.Duration{0, 100 * time.Millisecond} {
		name := "BGP health mode, hold time 3 s"
		if bfd > 0 {
			name = "BGP health mode, BFD 3 x 100 ms"
		}
		var ribT []time.Duration
		for i := 0; i < 5; i++ {
			l, r := bgpLab(t, bfd)
			pol := benchBGPPolicy(t, l, "health")
			withBFD(t, pol, bfd)
			for _, n := range l.Nodes {
				n.StartNginx(probePort)
				startVigil(t, l, n, pol)
			}
			lab.WaitFor(t, 20*time.Second, "the route via n1", func() bool { return slices.Equal(r.NextHops("203.0.113.21"), []string{"192.0.2.11"}) })
			if bfd > 0 {
				r.WaitBFD(2, bfd)
				// GoBGP resets a session once while its BFD session comes
				// up: the route is back before the clock starts.
				lab.WaitFor(t, 20*time.Second, "the route via n1 with BFD up", func() bool { return slices.Equal(r.NextHops("203.0.113.21"), []string{"192.0.2.11"}) })
			}
			time.Sleep(time.Duration(i) * 300 * time.Millisecond) // not always at the same phase of the timers
			changes := r.RouteChanges(netip.MustParsePrefix("203.0.113.21/32"))
			cut := time.Now()
			l.Nodes[0].CutLink()
			lab.WaitFor(t, 10*time.Second, "the route via n2", func() bool { return slices.Equal(r.NextHops("203.0.113.21"), []string{"192.0.2.12"}) })
			ribT = append(ribT, changes(time.Now()).Sub(cut))
		}
		fmt.Fprintf(&report, "| %s | n1's link cut | - | %s | - |\n", name, stats(ribT))
	}
	t.Log("\n" + report.String())
	if p := os.Getenv("VIGIL_BENCH_OUT"); p != "" {
		os.WriteFile(p, []byte(report.String()), 0o644)
	}
}

// benchBGPPolicy is the benchmark's site: nginx watched by nginx-process
// (event-driven) on each node; in health mode VI_21 prefers n1 and a dead
// nginx puts it in FAULT; in master and VRRP modes VI_1 (v3, 100 ms)
// prefers n1 and a dead nginx takes 50 off.
func benchBGPPolicy(t *testing.T, l *lab.Lab, mode string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "site \"lab\" {\n  plugin_user = \"root\"\n}\n")
	for _, n := range l.Nodes {
		fmt.Fprintf(&b, "node %q {\n  interface = \"eth0\"\n  address   = %q\n}\n", n.Name, n.Addr4)
		fmt.Fprintf(&b, `check "nginx-%[1]s" {
  plugin    = "nginx-process"
  interval  = "1s"
  weight    = %[2]d
  nodes     = [%[1]q]

  config {
    pid_file = %[3]q
  }
}
`, n.Name, map[bool]int{true: 0, false: -50}[mode == "health"], filepath.Join(l.Dir, n.Name+"-nginx", "nginx.pid"))
	}
	track := `track = { n1 = ["nginx-n1"], n2 = ["nginx-n2"] }`
	switch mode {
	case "health":
		fmt.Fprintf(&b, "instance \"VI_21\" {\n  vips = [\"203.0.113.21/32\"]\n  priority = { n1 = 100, n2 = 90 }\n  %s\n  bgp = \"health\"\n}\n", track)
	case "master":
		fmt.Fprintf(&b, "instance \"VI_1\" {\n  vrid = 31\n  version = 3\n  advert_interval = \"100ms\"\n  vips = [\"%s/32\"]\n  priority = { n1 = 100, n2 = 90 }\n  %s\n  bgp = \"master\"\n}\n", bgpVIP, track)
	case "vrrp":
		fmt.Fprintf(&b, "instance \"VI_1\" {\n  vrid = 31\n  version = 3\n  advert_interval = \"100ms\"\n  vips = [\"192.0.2.50/24\"]\n  priority = { n1 = 100, n2 = 90 }\n  %s\n}\n", track)
	}
	if mode != "vrrp" {
		b.WriteString("bgp {\n  asn = 65001\n\n  peer \"r1\" {\n    address = \"192.0.2.1\"\n    asn     = 65000\n  }\n}\n")
	}
	path := filepath.Join(l.Dir, "bench-"+mode+".hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startExaBGP runs Debian's ExaBGP on n with its healthcheck: curl on the
// node's nginx every second, addr (on lo) announced with MED med while it
// answers and withdrawn at the first failure: what an ExaBGP site runs.
func startExaBGP(t *testing.T, l *lab.Lab, n *lab.Node, addr string, med int) {
	lab.Require(t, "exabgp")
	conf := fmt.Sprintf(`process healthcheck {
    run /usr/bin/python3 -m exabgp healthcheck --no-syslog --cmd "curl -sf -m 1 http://127.0.0.1:%d/" --interval 1 --fast-interval 1 --rise 1 --fall 1 --timeout 1 --ip %s/32 --up-metric %d --withdraw-on-down;
    encoder text;
}

neighbor 192.0.2.1 {
    router-id %v;
    local-address %v;
    local-as 65001;
    peer-as 65000;
    hold-time 9;
    api {
        processes [ healthcheck ];
    }
}
`, probePort, addr, med, n.Addr4, n.Addr4)
	path := filepath.Join(l.Dir, n.Name+"-exabgp.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Start("exabgp", "env", "exabgp.daemon.user=root", "exabgp.daemon.daemonize=false", "exabgp.tcp.bind=",
		"exabgp.log.destination=stdout", "/usr/sbin/exabgp", path)
}
