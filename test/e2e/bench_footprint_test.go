package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// cgroupFootprint sums, over every process of a service (as its systemd's
// cgroup lists them), RSS, PSS and anonymous memory in KiB, from
// /proc/PID/smaps_rollup. PSS divides each shared page among the processes
// mapping it, so the sum is what the service costs the node.
func cgroupFootprint(t *testing.T, pids []int) (rss, pss, anon int64, procs int) {
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
		if err != nil {
			continue // a script that ended meanwhile
		}
		procs++
		var r, p, a int64
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Rss:":
				r = kb
			case "Pss:":
				p = kb
			case "Anonymous:":
				a = kb
			}
		}
		rss, pss, anon = rss+r, pss+p, anon+a
		cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		t.Logf("  %s: RSS %.1f MiB, PSS %.1f MiB, anonymous %.1f MiB", strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " "),
			float64(r)/1024, float64(p)/1024, float64(a)/1024)
	}
	return rss, pss, anon, procs
}

// TestBenchmarkNodeFootprint: a seed-shaped node as deployed (the package
// installed, systemd as PID 1, nginx.service), idle as master of three
// instances, its nginx watched and restarted, mail on every transition;
// every process of the daemon's service summed (systemd's cgroup).
// keepalived runs under its own Debian unit with the seed's restart-or-kill
// script every 4 s and smtp_alert; Vigil under the packaged unit with
// nginx-process, nginx-action (restarting nginx.service over D-Bus as
// vigil-plugin) and smtp-notify. The SMTP server is down, as the seed's
// mail relay would be here: both daemons keep their mail for later. Three
// alternating runs.
func TestBenchmarkNodeFootprint(t *testing.T) {
	benchEnabled(t)
	lab.Require(t, "keepalived", "nginx")
	installedPackage(t, "0.1.0+footprint")
	for _, f := range []string{"/etc/keepalived/keepalived.conf", "/etc/keepalived/nginx_check.sh"} {
		if _, err := os.Stat(f); err == nil {
			t.Fatalf("%s exists on this machine; not touching it", f)
		}
		t.Cleanup(func() { os.Remove(f) })
	}
	os.MkdirAll("/etc/keepalived", 0o755)
	os.WriteFile("/etc/keepalived/nginx_check.sh", []byte("#!/bin/bash\nalive() { kill -0 $(cat /run/nginx.pid) 2>/dev/null; }\nif ! alive; then\n  systemctl start nginx\n  sleep 5\n  alive || exit 1\nfi\n"), 0o755)
	os.WriteFile("/etc/keepalived/keepalived.conf", []byte(footprintKeepalived("/etc/keepalived/nginx_check.sh")), 0o644)
	const reps = 3
	type sample struct {
		rss, pss, anon float64
		procs          int
	}
	runs := map[string][]sample{}
	for r := range reps {
		for _, im := range []string{"keepalived", "vigil"} {
			t.Run(fmt.Sprintf("%s-%d", im, r), func(t *testing.T) {
				l := lab.New(t, 1)
				n := l.Nodes[0]
				writeInstalledPolicy(t, footprintPolicy(n.Addr4.String(), "/run/nginx.pid"))
				sn := l.BootSystemd(n, "")
				sn.MustSystemctl("start", "nginx.service")
				unit := im + ".service"
				sn.MustSystemctl("start", unit)
				lab.WaitFor(t, 30*time.Second, im+" master of three instances", func() bool {
					return n.HasAddr(idleVIP(1)) && n.HasAddr(idleVIP(2)) && n.HasAddr(idleVIP(3))
				})
				time.Sleep(15 * time.Second) // past start-up: Vigil's plugins settle after 10 s
				rss, pss, anon, procs := cgroupFootprint(t, sn.ServicePIDs(unit))
				runs[im] = append(runs[im], sample{float64(rss) / 1024, float64(pss) / 1024, float64(anon) / 1024, procs})
				t.Logf("%s: %d processes, RSS %.1f MiB, PSS %.1f MiB, anonymous %.1f MiB", im, procs, float64(rss)/1024, float64(pss)/1024, float64(anon)/1024)
			})
		}
	}
	var report strings.Builder
	report.WriteString("| implementation | processes | RSS, MiB | PSS, MiB | anonymous, MiB (3 runs: median, min-max) |\n|---|---|---|---|---|\n")
	for _, im := range []string{"keepalived", "vigil"} {
		rs := runs[im]
		if len(rs) != reps {
			t.Fatalf("%s: %d of %d runs measured", im, len(rs), reps)
		}
		rss, _, _ := median(rs, func(s sample) float64 { return s.rss })
		pss, plo, phi := median(rs, func(s sample) float64 { return s.pss })
		anon, alo, ahi := median(rs, func(s sample) float64 { return s.anon })
		fmt.Fprintf(&report, "| %s | %d | %.1f | %.1f (%.1f-%.1f) | %.1f (%.1f-%.1f) |\n", im, rs[0].procs, rss, pss, plo, phi, anon, alo, ahi)
	}
	t.Log("\n" + report.String())
	if p := os.Getenv("VIGIL_BENCH_OUT"); p != "" {
		os.WriteFile(p, []byte(report.String()), 0o644)
	}
}

func footprintPolicy(addr, pidFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "site \"node\" {\n  notify = [\"ops-mail\"]\n}\n\nnode \"n1\" {\n  interface = \"eth0\"\n  address   = %q\n}\n\n", addr)
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "instance \"VI_%d\" {\n  vrid     = %d\n  vips     = [\"%s/24\"]\n  priority = { n1 = 100 }\n  track    = [\"nginx\"]\n}\n\n", i, 50+i, idleVIP(i))
	}
	fmt.Fprintf(&b, `check "nginx" {
  plugin   = "nginx-process"
  interval = "4s"
  weight   = -25
  config {
    pid_file = %q
  }
}

action "nginx-recover" {
  plugin = "nginx-action"
  when   = "nginx"
}

notifier "ops-mail" {
  plugin = "smtp-notify"
  config {
    server = "127.0.0.1:2525"
    from   = "lb@example.org"
    to     = ["ops@example.org"]
  }
}
`, pidFile)
	return b.String()
}

func footprintKeepalived(script string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id n1\n  notification_email {\n    ops@example.org\n  }\n  notification_email_from lb@example.org\n  smtp_server 127.0.0.1 2525\n  smtp_connect_timeout 30\n  script_user root\n}\n")
	fmt.Fprintf(&b, "vrrp_script nginx_check {\n  script %q\n  interval 4\n  weight -25\n}\n", script)
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "vrrp_instance VI_%d {\n  state BACKUP\n  interface eth0\n  virtual_router_id %d\n  priority 100\n  advert_int 1\n  smtp_alert\n  track_script {\n    nginx_check\n  }\n  virtual_ipaddress {\n    %s/24\n  }\n}\n", i, 50+i, idleVIP(i))
	}
	return b.String()
}
