package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestBenchmarkHMAC: the CPU of a master of 255 VRRPv3 instances at
// 100 ms (2,550 adverts a second), unsigned and signed (auth_hmac, key 1,
// enforce), Vigil beside keepalived 2.4.3 (the build that has auth_hmac,
// unsigned too, so that both columns compare the same keepalived). The
// four take turns, 3 runs of 15 s each. make bench-hmac; the table goes to
// docs/benchmarks.md.
func TestBenchmarkHMAC(t *testing.T) {
	benchEnabled(t)
	bin := lab.Keepalived243(t)
	const window, reps, n = 15 * time.Second, 3, 255
	s := site{version: 3, interval: "100ms"}
	type sample struct{ cpu, rss float64 }
	runs := map[string][]sample{}
	cases := []struct {
		im     string
		signed bool
	}{{"keepalived 2.4.3", false}, {"vigil", false}, {"keepalived 2.4.3", true}, {"vigil", true}}
	for r := range reps {
		for _, c := range cases {
			key := fmt.Sprintf("%s signed=%v", c.im, c.signed)
			t.Run(fmt.Sprintf("%s-%v-%d", strings.Fields(c.im)[0], c.signed, r), func(t *testing.T) {
				l := lab.New(t, 1)
				node := l.Nodes[0]
				hcl, kconf := idleConfigs(n, s)
				if c.signed {
					hcl = strings.Replace(hcl, "site \"idle\" {\n", "site \"idle\" {\n  hmac {\n    key {\n      id     = 1\n      secret = \""+hmacKey1Text+"\"\n    }\n    active_key = 1\n  }\n", 1)
					kconf = strings.ReplaceAll(kconf, "  advert_int 0.1\n", "  advert_int 0.1\n  auth_hmac {\n    key 1 "+hmacKey1Text+"\n    active_key 1\n  }\n")
				}
				if c.im == "vigil" {
					pol := filepath.Join(l.Dir, "hmac.hcl")
					os.WriteFile(pol, []byte(hcl), 0o600)
					startVigil(t, l, node, pol)
				} else {
					node.StartKeepalivedBin(bin, kconf)
				}
				lab.WaitFor(t, 30*time.Second, fmt.Sprintf("%s master of %d instances", c.im, n), func() bool {
					return node.HasAddr(idleVIP(n)) && node.HasAddr(idleVIP(1))
				})
				time.Sleep(6 * time.Second)
				c0, _, _ := usage(t, node)
				start := time.Now()
				time.Sleep(window)
				c1, rss, _ := usage(t, node)
				runs[key] = append(runs[key], sample{cpuBetween(c0, c1).Seconds() / time.Since(start).Seconds() * 100, float64(rss) / 1024})
			})
		}
	}
	var report strings.Builder
	report.WriteString("| 255 instances, v3 every 100 ms, master | adverts | CPU, % of one core (3 runs: median, min-max) | RSS, MiB |\n|---|---|---|---|\n")
	for _, c := range cases {
		key := fmt.Sprintf("%s signed=%v", c.im, c.signed)
		rs := runs[key]
		if len(rs) != reps {
			t.Fatalf("%s: %d of %d runs measured", key, len(rs), reps)
		}
		cpu, lo, hi := median(rs, func(x sample) float64 { return x.cpu })
		rss, _, _ := median(rs, func(x sample) float64 { return x.rss })
		what := "unsigned"
		if c.signed {
			what = "signed (auth_hmac)"
		}
		fmt.Fprintf(&report, "| %s | %s | %.2f (%.2f-%.2f) | %.1f |\n", c.im, what, cpu, lo, hi, rss)
	}
	t.Logf("\n%s", report.String())
}
