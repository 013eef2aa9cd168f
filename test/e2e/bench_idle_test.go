package e2e

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// idleVIP is instance k's address (1-based): 203.0.113.k, then 198.51.100.x.
func idleVIP(k int) netip.Addr {
	if k <= 254 {
		return netip.MustParseAddr(fmt.Sprintf("203.0.113.%d", k))
	}
	return netip.MustParseAddr(fmt.Sprintf("198.51.100.%d", k-254))
}

func idleConfigs(n int, s site) (hcl, keepalived string) {
	var h, k strings.Builder
	h.WriteString("site \"idle\" {\n  garp_master_delay = \"0s\"\n}\n\nnode \"n1\" {\n  interface = \"eth0\"\n}\n\n")
	fmt.Fprintf(&k, "global_defs {\n  router_id n1\n  vrrp_version %d\n  vrrp_garp_master_delay 0\n}\n", s.version)
	interval := "1"
	if s.version == 3 {
		interval = "0.1"
	}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&h, "instance \"VI_%d\" {\n  vrid            = %d\n  version         = %d\n  advert_interval = %q\n  vips            = [\"%s/24\"]\n  priority        = { n1 = 100 }\n", i, i, s.version, s.interval, idleVIP(i))
		fmt.Fprintf(&k, "vrrp_instance VI_%d {\n  state BACKUP\n  interface eth0\n  virtual_router_id %d\n  priority 100\n  advert_int %s\n", i, i, interval)
		if s.auth != "" {
			fmt.Fprintf(&h, "\n  auth {\n    type     = \"pass\"\n    password = %q\n  }\n", s.auth)
			fmt.Fprintf(&k, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", s.auth)
		}
		h.WriteString("}\n\n")
		fmt.Fprintf(&k, "  virtual_ipaddress {\n    %s/24\n  }\n}\n", idleVIP(i))
	}
	return h.String(), k.String()
}

// usage reads every process in the namespace: each thread's CPU time (ns),
// and the sums of RSS and anonymous RSS (kB). RSS includes the pages of
// the binary and its libraries that are mapped (shared with every other
// process using them); anonymous RSS is the memory the daemon allocated.
func usage(t *testing.T, n *lab.Node) (cpu map[string]int64, rssKB, anonKB int64) {
	out, _ := osexec.Command("ip", "netns", "pids", n.NS).Output()
	cpu = map[string]int64{}
	for _, pid := range strings.Fields(string(out)) {
		maps.Copy(cpu, lab.ThreadCPU(pid))
		status, _ := os.ReadFile(filepath.Join("/proc", pid, "status"))
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
				rssKB += kb
			}
			if strings.HasPrefix(line, "RssAnon:") {
				kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
				anonKB += kb
			}
		}
	}
	return cpu, rssKB, anonKB
}

// median is the median, least and greatest of f over runs.
func median[S any](runs []S, f func(S) float64) (m, lo, hi float64) {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2], v[0], v[len(v)-1]
}

// cpuBetween is the CPU time used between two readings: each thread's
// growth, and all of a thread that started in between. A thread that ended
// in between is lost (neither daemon ends threads while idle).
func cpuBetween(before, after map[string]int64) time.Duration {
	var ns int64
	for tid, t1 := range after {
		ns += t1 - before[tid]
	}
	return time.Duration(ns)
}

// benchCase reports whether VIGIL_BENCH_CASES (a comma-separated list,
// empty for all) asks for the named case, so one row can be re-measured
// without the whole table.
func benchCase(name string) bool {
	only := os.Getenv("VIGIL_BENCH_CASES")
	return only == "" || slices.Contains(strings.Split(only, ","), name)
}

func TestBenchmarkIdle(t *testing.T) {
	benchEnabled(t)
	const window, reps = 15 * time.Second, 3
	var report strings.Builder
	report.WriteString("| instances, adverts | implementation | RSS, MiB | of which anonymous, MiB | CPU, % of one core (3 runs: median, min-max) |\n|---|---|---|---|---|\n")
	for _, s := range []site{{version: 2, interval: "1s", auth: "1322"}, {version: 3, interval: "100ms"}} {
		for _, n := range []int{1, 50, 255} {
			if !benchCase(fmt.Sprintf("%d-v%d", n, s.version)) {
				continue
			}
			type sample struct{ rss, anon, cpu float64 }
			runs := map[string][]sample{}
			// The two daemons take turns, so that whatever else the
			// machine does falls on both; each run's lab (and daemon) is
			// gone before the next starts.
			for r := range reps {
				for _, im := range []string{"keepalived", "vigil"} {
					t.Run(fmt.Sprintf("%s-%d-v%d-%d", im, n, s.version, r), func(t *testing.T) {
						l := lab.New(t, 1)
						node := l.Nodes[0]
						hcl, kconf := idleConfigs(n, s)
						if im == "vigil" {
							pol := filepath.Join(l.Dir, "idle.hcl")
							os.WriteFile(pol, []byte(hcl), 0o644)
							startVigil(t, l, node, pol)
						} else {
							node.StartKeepalived(kconf)
						}
						lab.WaitFor(t, 30*time.Second, fmt.Sprintf("%s master of %d instances", im, n), func() bool {
							return node.HasAddr(idleVIP(n)) && node.HasAddr(idleVIP(1))
						})
						time.Sleep(6 * time.Second) // past start-up work: Vigil hands its memory back after 5 s
						c0, _, _ := usage(t, node)
						start := time.Now()
						time.Sleep(window)
						c1, rss, anon := usage(t, node)
						cpu := cpuBetween(c0, c1).Seconds() / time.Since(start).Seconds() * 100
						runs[im] = append(runs[im], sample{float64(rss) / 1024, float64(anon) / 1024, cpu})
					})
				}
			}
			for _, im := range []string{"keepalived", "vigil"} {
				rs := runs[im]
				if len(rs) != reps {
					t.Fatalf("%s: %d of %d runs measured", im, len(rs), reps)
				}
				rss, _, _ := median(rs, func(x sample) float64 { return x.rss })
				anon, _, _ := median(rs, func(x sample) float64 { return x.anon })
				cpu, lo, hi := median(rs, func(x sample) float64 { return x.cpu })
				fmt.Fprintf(&report, "| %d, v%d every %s | %s | %.1f | %.1f | %.3f (%.3f-%.3f) |\n", n, s.version, s.interval, im, rss, anon, cpu, lo, hi)
			}
		}
	}
	// The floor under Vigil's RSS: a program that links what every Vigil
	// process must (go-plugin with gRPC, hcl/v2) and does nothing.
	floor := filepath.Join(t.TempDir(), "linkfloor")
	build := osexec.Command("go", "build", "-o", floor, "./testdata/linkfloor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build linkfloor: %v\n%s", err, out)
	}
	l := lab.New(t, 1)
	l.Nodes[0].Start("linkfloor", floor)
	time.Sleep(3 * time.Second)
	_, rss, anon := usage(t, l.Nodes[0])
	fmt.Fprintf(&report, "| - | go-plugin and hcl/v2 linked, nothing run | %.1f | %.1f | - |\n", float64(rss)/1024, float64(anon)/1024)
	t.Log("\n" + report.String())
	if p := os.Getenv("VIGIL_BENCH_OUT"); p != "" {
		os.WriteFile(p, []byte(report.String()), 0o644)
	}
}
