package e2e

import (
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/test/lab"
)

// soakInterfaces are each node's links in the soak, each on a segment of
// its own and so its own VRID space.
var soakInterfaces = []string{"eth0", "eth1", "eth2", "eth3"}

// soakPolicy: on each interface 255 VRRPv3 instances over IPv6 at 1 s
// (2001:db8:K::V), and on eth0 50 over IPv4 at 100 ms (203.0.113.V); n1
// is master of all at 100, n2 backs up at 90. A check on n1 flaps
// thousands of times a second with weight -5: priority moves, no
// transition may follow.
func soakPolicy(t *testing.T, l *lab.Lab) string {
	var b strings.Builder
	fmt.Fprintf(&b, "site \"soak\" {\n  garp_master_delay = \"0s\"\n  plugin_user = \"nobody\"\n}\n\n")
	for _, n := range l.Nodes {
		fmt.Fprintf(&b, "node %q {\n  interface = \"eth0\"\n  address   = %q\n}\n\n", n.Name, n.Addr4)
	}
	for k, ifname := range soakInterfaces {
		for v := 1; v <= 255; v++ {
			fmt.Fprintf(&b, "instance \"V6_%d_%d\" {\n  interface = %q\n  vrid = %d\n  version = 3\n  advert_interval = \"1s\"\n  vips = [\"2001:db8:%d::%d/64\"]\n  priority = { n1 = 100, n2 = 90 }\n}\n\n", k, v, ifname, v, k+1, v)
		}
	}
	for v := 1; v <= 50; v++ {
		fmt.Fprintf(&b, "instance \"V4_%d\" {\n  vrid = %d\n  version = 3\n  advert_interval = \"100ms\"\n  vips = [\"203.0.113.%d/24\"]\n  priority = { n1 = 100, n2 = 90 }\n  track = [\"flap\"]\n}\n\n", v, v, v)
	}
	fmt.Fprintf(&b, `check "flap" {
  plugin   = "testplugin"
  interval = "1s"
  weight   = -5
  nodes    = ["n1"]
}

plugin "testplugin" {
  path = %q
  args = ["flapcheck"]
}
`, testPluginBin)
	pol := filepath.Join(l.Dir, "soak.hcl")
	if err := os.WriteFile(pol, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return pol
}

// TestBenchmarkSoak (make bench-soak): 1,070 instances with a flapping
// check and the backup restarting every minute, for VIGIL_SOAK (default
// 3m; the endurance run is 60m). The master must see no
// transition after it took over, the backup never become master; the
// report gives the master agent's RSS slope and its CPU per advert.
func TestBenchmarkSoak(t *testing.T) {
	benchEnabled(t)
	length := 3 * time.Minute
	if s := os.Getenv("VIGIL_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("VIGIL_SOAK=%q: %v", s, err)
		}
		length = d
	}
	l := lab.New(t, 2)
	// Each extra interface is a segment of its own: a bridge per interface
	// in the lab's bridge namespace, each node plugged in with a veth.
	for k, ifname := range soakInterfaces[1:] {
		br := fmt.Sprintf("br%d", k+1)
		must(t, "ip", "-n", l.Bridge, "link", "add", br, "type", "bridge")
		must(t, "ip", "-n", l.Bridge, "link", "set", br, "up")
		for _, n := range l.Nodes {
			peer := fmt.Sprintf("v%s-%d", n.Name, k+1)
			must(t, "ip", "link", "add", ifname, "netns", n.NS, "type", "veth", "peer", "name", peer, "netns", l.Bridge)
			must(t, "ip", "-n", l.Bridge, "link", "set", peer, "master", br, "up")
			n.MustExec("sysctl", "-qw", "net.ipv6.conf."+ifname+".accept_dad=0")
			n.MustExec("ip", "link", "set", ifname, "up")
		}
	}
	pol := soakPolicy(t, l)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	v1 := startVigil(t, l, n1, pol)
	v2 := startVigil(t, l, n2, pol)
	mastered := func() int {
		st, err := api.Fetch(v1.socket)
		if err != nil {
			return 0
		}
		m := 0
		for _, in := range st.Instances {
			if in.State == "MASTER" {
				m++
			}
		}
		return m
	}
	lab.WaitFor(t, 2*time.Minute, "n1 master of all 1,070 instances", func() bool { return mastered() == 1070 })
	time.Sleep(10 * time.Second) // past start-up and the plugins' settling
	entering0 := v1.Count(" entering ")
	pid := strconv.Itoa(v1.Cmd.Process.Pid)
	sent := func() uint64 {
		st, err := api.Fetch(v1.socket)
		if err != nil {
			t.Fatalf("n1 status: %v", err)
		}
		var n uint64
		for _, in := range st.Instances {
			n += in.Counters["adverts_sent"]
		}
		return n
	}
	cpu0, sent0 := agentCPU(pid), sent()
	type point struct {
		at  time.Duration
		rss float64 // KiB
	}
	var rss []point
	start := time.Now()
	restarts := 0
	for time.Since(start) < length {
		time.Sleep(10 * time.Second)
		rss = append(rss, point{time.Since(start), float64(vmRSS(pid))})
		if time.Since(start) >= time.Duration(restarts+1)*time.Minute {
			v2.Stop(os.Interrupt, 10*time.Second)
			v2 = startVigil(t, l, n2, pol)
			restarts++
		}
		if !v1.Running() {
			t.Fatalf("n1's agent died:\n%s", v1.Output())
		}
	}
	elapsed := time.Since(start)
	cpu, adverts := agentCPU(pid)-cpu0, sent()-sent0
	// Least squares slope of RSS over time, KiB per hour.
	var sx, sy, sxx, sxy float64
	for _, p := range rss {
		x := p.at.Hours()
		sx, sy, sxx, sxy = sx+x, sy+p.rss, sxx+x*x, sxy+x*p.rss
	}
	n := float64(len(rss))
	slope := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	transitions := v1.Count(" entering ") - entering0
	t.Logf("soak report:\n"+
		"| length | instances | backup restarts | n1 transitions | n2 became master | RSS first / last, MiB | RSS slope, KiB/hour | adverts sent | CPU, %% of one core | CPU per advert, us |\n|---|---|---|---|---|---|---|---|---|---|\n"+
		"| %v | 1,070 | %d | %d | %d | %.1f / %.1f | %+.0f | %d | %.2f | %.1f |",
		elapsed.Round(time.Second), restarts, transitions, v2.Count("entering MASTER state"), rss[0].rss/1024, rss[len(rss)-1].rss/1024, slope,
		adverts, cpu.Seconds()/elapsed.Seconds()*100, float64(cpu.Microseconds())/float64(adverts))
	if transitions != 0 {
		t.Errorf("n1 changed state %d times during the soak", transitions)
	}
	if n := v2.Count("entering MASTER state"); n != 0 {
		var lines []string
		for _, l := range strings.Split(v2.Output(), "\n") {
			if strings.Contains(l, "V4_1 ") || strings.Contains(l, "V4_1:") || strings.Contains(l, "starting") || strings.Contains(l, "WARN") {
				lines = append(lines, l)
			}
		}
		t.Errorf("the restarting backup became master %d times:\n%s", n, strings.Join(lines[:min(len(lines), 40)], "\n"))
	}
}

// agentCPU is the CPU time of every thread of pid.
func agentCPU(pid string) time.Duration {
	var ns int64
	for _, v := range lab.ThreadCPU(pid) {
		ns += v
	}
	return time.Duration(ns)
}

// vmRSS is pid's resident set in KiB.
func vmRSS(pid string) int64 {
	status, _ := os.ReadFile(filepath.Join("/proc", pid, "status"))
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	return 0
}

func must(t *testing.T, args ...string) {
	t.Helper()
	if out, err := osexec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
