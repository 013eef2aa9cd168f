package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestBenchmarkFlood: one node, master of VI_1 (v2, PASS auth), Vigil or
// keepalived, while an on-link host sends each kind of bad advert at
// 10,000 a second for 2 s. For each kind: the daemon's CPU over the flood,
// the lines it logged, and its RSS at the end. Same lab, same run, the two
// daemons one after the other.
func TestBenchmarkFlood(t *testing.T) {
	benchEnabled(t)
	const rate, per = 10000, 2 * time.Second
	type result struct {
		cpu   float64
		lines int
		rss   float64
	}
	results := map[string]map[string]result{}
	var names []string
	for _, im := range []string{"keepalived", "vigil"} {
		results[im] = map[string]result{}
		t.Run(im, func(t *testing.T) {
			l := lab.New(t, 1)
			n := l.Nodes[0]
			var out func() string
			if im == "vigil" {
				pol := filepath.Join(l.Dir, "flood.hcl")
				os.WriteFile(pol, []byte(fmt.Sprintf("node \"n1\" {\n  interface = \"eth0\"\n  address   = %q\n}\ninstance \"VI_1\" {\n  vrid     = 1\n  vips     = [\"192.0.2.101/24\"]\n  priority = { n1 = 100 }\n  auth {\n    type     = \"pass\"\n    password = \"1322\"\n  }\n}\n", n.Addr4)), 0o644)
				v := startVigil(t, l, n, pol)
				out = v.Output
			} else {
				p := n.StartKeepalived("global_defs {\n  router_id n1\n  vrrp_skip_check_adv_addr\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 1\n  priority 100\n  advert_int 1\n  authentication {\n    auth_type PASS\n    auth_pass 1322\n  }\n  virtual_ipaddress {\n    192.0.2.101/24\n  }\n}\n")
				out = p.Output
			}
			lab.WaitFor(t, 10*time.Second, im+" master", func() bool { return n.HasAddr(netip.MustParseAddr("192.0.2.101")) })
			time.Sleep(6 * time.Second) // past start-up
			sender := newRawSender(t, l.Client)
			for _, c := range floodClasses(l.Client.Addr4, []netip.Addr{n.Addr4}) {
				if c.instance != "VI_1" {
					continue
				}
				if im == "keepalived" {
					names = append(names, c.name)
				}
				lines0 := strings.Count(out(), "\n")
				c0, _, _ := usage(t, n)
				start := time.Now()
				for i := 0; time.Since(start) < per; i++ {
					src, ttl, msg, dst := c.packet(i)
					sender.send(src, ttl, msg, dst)
					if want := time.Duration(i+1) * time.Second / rate; time.Since(start) < want {
						time.Sleep(want - time.Since(start))
					}
				}
				elapsed := time.Since(start)
				time.Sleep(100 * time.Millisecond)
				c1, rss, _ := usage(t, n)
				results[im][c.name] = result{cpu: cpuBetween(c0, c1).Seconds() / elapsed.Seconds() * 100,
					lines: strings.Count(out(), "\n") - lines0, rss: float64(rss) / 1024}
			}
			if !n.HasAddr(netip.MustParseAddr("192.0.2.101")) {
				t.Errorf("%s lost the VIP under the flood", im)
			}
		})
	}
	var report strings.Builder
	report.WriteString("| advert kind (10,000/s for 2 s) | keepalived CPU, % | Vigil CPU, % | keepalived log lines | Vigil log lines | keepalived RSS after, MiB | Vigil RSS after, MiB |\n|---|---|---|---|---|---|---|\n")
	for _, name := range names {
		k, v := results["keepalived"][name], results["vigil"][name]
		fmt.Fprintf(&report, "| %s | %.1f | %.1f | %d | %d | %.1f | %.1f |\n", name, k.cpu, v.cpu, k.lines, v.lines, k.rss, v.rss)
	}
	t.Log("\n" + report.String())
}
