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

// TestBenchmarkNginxFailover is the seed's failure, measured: nginx dies on
// VI_1's master n1 and cannot be restarted (its configuration is broken);
// the clock runs from the kill to the client's first HTTP answer through
// VI_1 from n3, the backup at 80. keepalived runs the seed's two checks
// (a script every 4 s with weight -25, and the seed's restart-or-kill
// script); Vigil runs policies/sgcc-lb.hcl's nginx-process check and
// nginx-action. Report only: run with `make bench-nginx`.
func TestBenchmarkNginxFailover(t *testing.T) {
	benchEnabled(t)
	const runs = 5
	v2 := site{version: 2, interval: "1s", auth: "1322"}
	v3 := site{version: 3, interval: "100ms"}
	rows := []struct {
		name string
		s    site
		n1   string // "vigil", or the keepalived script on n1
		rest string // what n2 and n3 run: "vigil" or "keepalived"
	}{
		{"keepalived, script every 4s, weight -25", v2, "weight", "keepalived"},
		{"keepalived, the seed's restart-or-kill script", v2, "seed", "keepalived"},
		{"Vigil master, keepalived backups", v2, "vigil", "keepalived"},
		{"Vigil on every node", v2, "vigil", "vigil"},
		{"keepalived, script every 4s, weight -25", v3, "weight", "keepalived"},
		{"Vigil master, keepalived backups", v3, "vigil", "keepalived"},
		{"Vigil on every node", v3, "vigil", "vigil"},
	}
	var report strings.Builder
	report.WriteString("| adverts | cluster | nginx killed to VIP on the backup, ms | nginx killed to the client's first answer from the backup, ms (min / median / max) |\n|---|---|---|---|\n")
	for _, row := range rows {
		s := row.s
		sl := newSeedLab(t, s)
		procs := make([]*lab.Proc, 3)
		start := func(i int) {
			kind := row.rest
			if i == 0 {
				kind = row.n1
			}
			if kind == "vigil" {
				procs[i] = startVigil(t, sl.Lab, sl.Nodes[i], sl.policy).Proc
				return
			}
			if kind == "keepalived" {
				kind = "weight"
			}
			procs[i] = sl.Nodes[i].StartKeepalived(keepalivedNginxConf(t, sl, i, kind))
		}
		for i := range sl.Nodes {
			start(i)
		}
		for i, n := range sl.Nodes {
			waitOwner(t, sl.Lab, s.vipOf(i), n.Name, 20*time.Second)
		}
		var vipT, replyT []time.Duration
		for r := 0; r < runs; r++ {
			// keepalived's check runs every 4 s: spread the kills over
			// that cycle, as real failures are, rather than land each
			// at the same phase after the previous run's recovery.
			time.Sleep(time.Duration(r) * 4 * time.Second / runs)
			wait := sl.Nodes[2].WatchAddr(s.vipOf(0))
			sl.nginx[0].Break()
			killed := time.Now()
			sl.nginx[0].Kill()
			var answered time.Time
			for deadline := killed.Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
				if body, err := sl.Client.HTTPGet(s.vipOf(0), probePort, seedHost, 20*time.Millisecond); err == nil && body == "n3 via backend" {
					answered = time.Now()
					break
				}
			}
			at := wait(time.Second)
			if answered.IsZero() || at.IsZero() {
				t.Fatalf("%s v%d run %d: no answer from n3 (VIP on n3 at %v)\n%s", row.name, s.version, r, at, procs[0].Output())
			}
			vipT, replyT = append(vipT, at.Sub(killed)), append(replyT, answered.Sub(killed))
			// Back to the start: nginx repaired and running, n1 master again.
			sl.nginx[0].Repair()
			sl.nginx[0].Start()
			if !procs[0].Running() { // the seed's script stopped keepalived
				start(0)
			}
			waitOwner(t, sl.Lab, s.vipOf(0), "n1", 30*time.Second)
			time.Sleep(4 * s.versionInterval())
		}
		fmt.Fprintf(&report, "| v%d %s | %s | %s | %s |\n", s.version, s.interval, row.name, stats(vipT), stats(replyT))
		for _, p := range procs {
			p.Stop(os.Interrupt, 5*time.Second)
		}
	}
	t.Log("\n" + report.String())
	if p := os.Getenv("VIGIL_BENCH_OUT"); p != "" {
		os.WriteFile(p, []byte(report.String()), 0o644)
	}
}

// keepalivedNginxConf is the seed's keepalived.conf for lab node i: its
// three instances tracking a vrrp_script every 4 s with weight -25. With
// check "weight" the script fails while no nginx master runs; with "seed"
// it is the seed's script: start nginx, wait 5 s, and if nginx is still
// down stop keepalived (the seed's killall, limited to this node's
// keepalived since the lab's nodes share one process table).
func keepalivedNginxConf(t *testing.T, sl *seedLab, i int, check string) string {
	n, x := sl.Nodes[i], sl.nginx[i]
	alive := fmt.Sprintf(`p=$(cat %s 2>/dev/null) && [ -n "$p" ] && grep -q "nginx: master process" /proc/$p/cmdline 2>/dev/null`, x.PIDFile)
	script := "#!/bin/sh\n" + alive + "\n"
	if check == "seed" {
		kpid := filepath.Join(sl.Dir, n.Name+"-keepalived.pid")
		script = fmt.Sprintf("#!/bin/bash\nalive() { %s; }\nif ! alive; then\n  %s\n  sleep 5\n  if ! alive; then\n    kill $(cat %s)\n  fi\nfi\n",
			alive, strings.Join(x.Command(), " "), kpid)
	}
	path := filepath.Join(sl.Dir, n.Name+"-check-nginx.sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := sl.policySite
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id %s\n  vrrp_version %d\n  script_user root\n  vrrp_garp_master_delay 5\n}\n", n.Name, s.version)
	fmt.Fprintf(&b, "vrrp_script chk_nginx {\n  script %q\n  interval 4\n  weight -25\n}\n", path)
	conf := s.keepalivedConf(sl.Lab, i, 3, s.auth)
	conf = conf[strings.Index(conf, "vrrp_instance"):]
	conf = strings.ReplaceAll(conf, "  virtual_ipaddress {", "  track_script {\n    chk_nginx\n  }\n  virtual_ipaddress {")
	b.WriteString(conf)
	return b.String()
}
