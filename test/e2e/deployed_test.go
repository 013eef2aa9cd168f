package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/test/lab"
	"github.com/vigil-ha/vigil/test/mailtest"
)

// installedPackage builds the package (make deb's script) as version and
// installs it with dpkg on this machine, purged when the test ends; it
// returns the .deb. It installs for real, so it runs as root under CI or
// with VIGIL_PACKAGE_TEST=1, and never over an installed vigil.
func installedPackage(t *testing.T, version string) string {
	t.Helper()
	if os.Getenv("CI") != "true" && os.Getenv("VIGIL_PACKAGE_TEST") != "1" {
		t.Skip("installs a package on this machine: runs under CI=true or VIGIL_PACKAGE_TEST=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to install a package")
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "vigil").Output(); strings.Contains(string(out), "installed") {
		t.Fatal("a vigil package is installed on this machine; not touching it (dpkg --purge vigil)")
	}
	dir := t.TempDir()
	build := exec.Command("packaging/build-deb.sh", version, dir)
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the package: %v\n%s", err, out)
	}
	deb := filepath.Join(dir, "vigil_"+version+"_"+goarch(t)+".deb")
	t.Cleanup(func() {
		exec.Command("dpkg", "--purge", "vigil").Run()
		// systemctl enable in a node links the unit here, on this
		// machine's /etc, which the nodes share.
		os.Remove("/etc/systemd/system/multi-user.target.wants/vigil.service")
	})
	if out, err := exec.Command("dpkg", "-i", deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	return deb
}

// repackaged is deb with another version, as a newer build would be.
func repackaged(t *testing.T, deb, version string) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, args := range [][]string{{"dpkg-deb", "-R", deb, root}, {"sed", "-i", "s/^Version: .*/Version: " + version + "/", filepath.Join(root, "DEBIAN", "control")}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	out := filepath.Join(dir, "vigil_"+version+".deb")
	if b, err := exec.Command("dpkg-deb", "--root-owner-group", "-b", root, out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -b: %v\n%s", err, b)
	}
	return out
}

// deployedPolicy is policies/sgcc-lb.hcl as it is, with the lab's node
// names, interface, addresses and mail server written in.
func deployedPolicy(t *testing.T, l *lab.Lab, mailAddr string) string {
	src, err := os.ReadFile("../../policies/sgcc-lb.hcl")
	if err != nil {
		t.Fatal(err)
	}
	pol := string(src)
	for i, n := range l.Nodes {
		pol = strings.ReplaceAll(pol, fmt.Sprintf("lb0%d", i+1), n.Name)
		pol = strings.ReplaceAll(pol, fmt.Sprintf("10.2.61.2%d", i+1), n.Addr4.String())
		pol = strings.ReplaceAll(pol, fmt.Sprintf("10.2.61.2%d/24", i+4), deployedVIP(i).String()+"/24")
	}
	pol = strings.ReplaceAll(pol, `"ens192"`, `"eth0"`)
	host, port, _ := strings.Cut(mailAddr, ":")
	pol = strings.Replace(pol, `server          = "127.0.0.1"`, fmt.Sprintf(`server          = %q`, host), 1)
	pol = strings.Replace(pol, `port            = 25`, "port            = "+port, 1)
	if strings.Contains(pol, "10.2.61.") || strings.Contains(pol, "lb0") {
		t.Fatalf("the seed policy did not adapt to the lab:\n%s", pol)
	}
	return pol
}

// deployedBGPPolicy is policies/sgcc-lb-bgp.hcl, the seed's BGP twin, as
// it is, with the lab's node names, addresses, router and mail server.
func deployedBGPPolicy(t *testing.T, l *lab.Lab) string {
	src, err := os.ReadFile("../../policies/sgcc-lb-bgp.hcl")
	if err != nil {
		t.Fatal(err)
	}
	pol := string(src)
	for i, n := range l.Nodes {
		pol = strings.ReplaceAll(pol, fmt.Sprintf("lb0%d", i+1), n.Name)
		pol = strings.ReplaceAll(pol, fmt.Sprintf("10.2.61.2%d", i+1), n.Addr4.String())
		pol = strings.ReplaceAll(pol, fmt.Sprintf("10.2.62.2%d/32", i+4), fmt.Sprintf("203.0.113.%d/32", 24+i))
	}
	pol = strings.ReplaceAll(pol, `"10.2.61.1"`, `"192.0.2.1"`)
	pol = strings.ReplaceAll(pol, `"ens192"`, `"eth0"`)
	pol = strings.Replace(pol, `server          = "127.0.0.1"`, fmt.Sprintf(`server          = %q`, l.Client.Addr4), 1)
	if strings.Contains(pol, "10.2.6") || strings.Contains(pol, "lb0") {
		t.Fatalf("the BGP twin did not adapt to the lab:\n%s", pol)
	}
	return pol
}

// deployedVIP is the VIP node i (0-based) is master of in the seed.
func deployedVIP(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", 24+i)) }

// writePolicy puts the site policy where the package's unit reads it,
// root:vigil 0640 as the package installs it.
func writeInstalledPolicy(t *testing.T, pol string) {
	t.Helper()
	if err := os.WriteFile("/etc/vigil/site.hcl", []byte(pol), 0o640); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("chown", "root:vigil", "/etc/vigil/site.hcl").CombinedOutput()
	if err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
}

// TestSeedAsDeployed runs the seed site as operators run it: the package
// installed with dpkg, three nodes each with systemd as PID 1, Debian's
// nginx.service and vigil.service (systemctl enable --now vigil), the
// site's policy from policies/ in /etc/vigil, mail to a real SMTP server.
// Every fault of the seed site is driven through systemd, and after each
// the VIPs are where they are without systemd (test/e2e's seed tests) and
// each transition has its mail: nginx stopped and killed (restarted
// through systemd's D-Bus API by nginx-action as vigil-plugin, nothing
// moves), an nginx that cannot start (the node yields), vigil stopped
// (priority 0 handover), killed (systemd restarts it; ExecStopPost's
// cleanup leaves no VIP in between), hung (the watchdog), reloaded with a
// valid and a broken policy, upgraded with dpkg -i on the master, and the
// node's systemd powered off. No process of the service runs as root.
func TestSeedAsDeployed(t *testing.T) {
	lab.Require(t, "nginx", "dpkg-deb", "nsenter", "unshare")
	deb := installedPackage(t, "0.1.0+deployed1")
	newer := repackaged(t, deb, "0.1.0+deployed2")
	l := lab.New(t, 3)
	mail := mailtest.New(mailtest.Options{})
	mail.Start(l.Client.Listen(":25"))
	t.Cleanup(mail.Stop)
	writeInstalledPolicy(t, deployedPolicy(t, l, l.Client.Addr4.String()+":25"))
	var nodes []*lab.SystemdNode
	for _, n := range l.Nodes {
		sn := l.BootSystemd(n, "")
		nodes = append(nodes, sn)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s vigil.service:\n%s", sn.Name, sn.Journal("vigil.service"))
			}
		})
		sn.MustSystemctl("start", "nginx.service")
		sn.MustSystemctl("enable", "--now", "vigil.service")
	}
	vip := func(i int) netip.Addr { return deployedVIP(i) }
	owners := func(want ...string) {
		t.Helper()
		for i, w := range want {
			waitOwner(t, l, vip(i), w, 15*time.Second)
		}
	}
	served := func(i int, by string) {
		t.Helper()
		var body string
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if body, err = l.Client.HTTPGet(vip(i), 80, "lab", time.Second); err == nil && body == by {
				return
			}
		}
		t.Fatalf("%v not served by %s: %q %v", vip(i), by, body, err)
	}
	mails := func(node, instance string) int {
		n := 0
		for _, m := range mail.Messages() {
			if strings.Contains(m.Header.Get("Subject"), fmt.Sprintf("[%s] VRRP Instance %s - Entering MASTER state", node, instance)) {
				n++
			}
		}
		return n
	}
	waitMail := func(node, instance string, atLeast int) {
		t.Helper()
		lab.WaitFor(t, 15*time.Second, fmt.Sprintf("mail: %s %s entering MASTER (%d)", node, instance, atLeast), func() bool { return mails(node, instance) >= atLeast })
	}
	owners("n1", "n2", "n3")
	for i, n := range []string{"n1", "n2", "n3"} {
		served(i, n)
		waitMail(n, fmt.Sprintf("VI_%d", i+1), 1)
	}

	// As deployed: no process of the service runs as root; the plugins
	// run as vigil-plugin, the agent as vigil.
	for _, sn := range nodes {
		pids := sn.ServicePIDs("vigil.service")
		if len(pids) < 2 {
			t.Errorf("%s: vigil.service runs %v, want the agent and its plugins", sn.Name, pids)
		}
		for _, pid := range pids {
			st := procStatus(pid, "Uid", "Name")
			if strings.HasPrefix(st["Uid"], "0 ") {
				t.Errorf("%s: %s (%d) runs as root in vigil.service", sn.Name, st["Name"], pid)
			}
		}
	}
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	t.Run("polkit lets vigil-plugin restart nginx.service and nothing else", func(t *testing.T) {
		as := func(args ...string) error {
			_, err := n1.Enter(append([]string{"setpriv", "--reuid=vigil-plugin", "--regid=vigil-plugin", "--clear-groups", "systemctl", "--no-ask-password"}, args...)...)
			return err
		}
		if err := as("restart", "nginx.service"); err != nil {
			t.Errorf("vigil-plugin could not restart nginx.service: %v", err)
		}
		for _, args := range [][]string{{"stop", "nginx.service"}, {"restart", "dbus.service"}, {"start", "systemd-tmpfiles-clean.service"}} {
			if err := as(args...); err == nil {
				t.Errorf("vigil-plugin may systemctl %s", strings.Join(args, " "))
			}
		}
		lab.WaitFor(t, 10*time.Second, "n1's nginx check passing again", func() bool { return checkPasses(n1, "nginx") })
		owners("n1", "n2", "n3")
	})

	t.Run("nginx stopped and killed: restarted through systemd, nothing moves", func(t *testing.T) {
		for _, how := range [][]string{{"stop", "nginx.service"}, {"kill", "-s", "KILL", "nginx.service"}} {
			before := nginxMain(t, n1)
			n1.MustSystemctl(how...)
			lab.WaitFor(t, 15*time.Second, "nginx.service running again on n1 after systemctl "+strings.Join(how, " "), func() bool {
				pid := nginxMain(t, n1)
				return pid != 0 && pid != before
			})
			lab.WaitFor(t, 10*time.Second, "n1's nginx check passing again", func() bool { return checkPasses(n1, "nginx") })
			owners("n1", "n2", "n3")
			served(0, "n1")
		}
		if j := n1.Journal("vigil.service"); !strings.Contains(j, "restarted nginx.service through systemd") {
			t.Errorf("no restart through systemd in the journal:\n%s", j)
		}
	})

	t.Run("nginx cannot start: n1 yields VI_1 to n3, takes it back when repaired", func(t *testing.T) {
		site := filepath.Join(n1.Sites(), "default")
		good, _ := os.ReadFile(site)
		os.WriteFile(site, []byte("this is not nginx configuration;\n"), 0o644)
		n1.MustSystemctl("kill", "-s", "KILL", "nginx.service")
		owners("n3", "n2", "n3")
		served(0, "n3")
		waitMail("n3", "VI_1", 1)
		os.WriteFile(site, good, 0o644)
		n1.MustSystemctl("start", "nginx.service")
		owners("n1", "n2", "n3")
		waitMail("n1", "VI_1", 2)
	})

	t.Run("systemctl stop vigil: priority 0 handover", func(t *testing.T) {
		start := time.Now()
		n2.MustSystemctl("stop", "vigil.service")
		owners("n1", "n1", "n3")
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("VI_2 moved %v after the stop; a resigning master hands over at once", took)
		}
		waitMail("n1", "VI_2", 1)
		// KillMode=mixed: systemd signals the agent alone, which ends its
		// plugins after resigning; none is killed under it mid-stop.
		if j := n2.Journal("vigil.service"); strings.Contains(j, "signal: terminated") {
			t.Errorf("plugins were terminated under the stopping agent:\n%s", j)
		}
		n2.MustSystemctl("start", "vigil.service")
		owners("n1", "n2", "n3")
		waitMail("n2", "VI_2", 2)
	})

	t.Run("systemctl kill -s KILL vigil: restarted, cleanup leaves no VIP behind", func(t *testing.T) {
		before := mainPID(t, n3, "vigil.service")
		n3.MustSystemctl("kill", "-s", "KILL", "vigil.service")
		// ExecStopPost ran before the restart (RestartSec=1s): n3 holds
		// no VIP until its new agent is master again.
		lab.WaitFor(t, 5*time.Second, "VI_3 gone from n3 after the kill", func() bool { return !n3.HasAddr(vip(2)) })
		lab.WaitFor(t, 15*time.Second, "vigil.service restarted on n3", func() bool {
			pid := mainPID(t, n3, "vigil.service")
			return pid != 0 && pid != before
		})
		owners("n1", "n2", "n3")
		waitMail("n3", "VI_3", 2)
		if j := n3.Journal("vigil.service"); !strings.Contains(j, "removed VIP left by a previous run") {
			t.Errorf("ExecStopPost's cleanup removed nothing:\n%s", j)
		}
	})

	t.Run("hung agent: the watchdog restarts it", func(t *testing.T) {
		before := mainPID(t, n3, "vigil.service")
		syscall.Kill(hostPID(t, n3, before), syscall.SIGSTOP)
		owners("n1", "n2", "n2") // silent master: n2 (80) takes over
		waitMail("n2", "VI_3", 1)
		lab.WaitFor(t, 30*time.Second, "the watchdog to restart vigil.service on n3", func() bool {
			pid := mainPID(t, n3, "vigil.service")
			return pid != 0 && pid != before
		})
		owners("n1", "n2", "n3")
		waitMail("n3", "VI_3", 3)
		if j := n3.Journal("vigil.service"); !strings.Contains(j, "Watchdog timeout") {
			t.Errorf("no watchdog timeout in the journal:\n%s", j)
		}
	})

	t.Run("systemctl reload: a valid policy reloads, a broken one keeps the running one", func(t *testing.T) {
		pol, _ := os.ReadFile("/etc/vigil/site.hcl")
		defer writeInstalledPolicy(t, string(pol))
		writeInstalledPolicy(t, string(pol)+"\n# reloaded\n")
		n1.MustSystemctl("reload", "vigil.service")
		lab.WaitFor(t, 10*time.Second, "reload done on n1", func() bool { return strings.Contains(n1.Journal("vigil.service"), "reload done") })
		writeInstalledPolicy(t, string(pol)+"\ninstance {\n")
		if out, err := n1.Systemctl("reload", "vigil.service"); err == nil {
			t.Errorf("reload with a broken policy succeeded: %s", out)
		}
		if st, _ := n1.Systemctl("is-active", "vigil.service"); strings.TrimSpace(st) != "active" {
			t.Errorf("vigil.service after a broken reload: %s", st)
		}
		owners("n1", "n2", "n3")
	})

	t.Run("dpkg -i of a newer build on the master: hands over and takes back", func(t *testing.T) {
		if out, err := exec.Command("cp", newer, n1.Share).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		before := mainPID(t, n1, "vigil.service")
		if out, err := n1.Enter("dpkg", "-i", "/mnt/"+filepath.Base(newer)); err != nil {
			t.Fatalf("dpkg -i on n1: %v\n%s", err, out)
		}
		if pid := mainPID(t, n1, "vigil.service"); pid == before || pid == 0 {
			t.Errorf("the upgrade did not restart the running agent (pid %d, was %d)", pid, before)
		}
		owners("n1", "n2", "n3")
		if j := n1.Journal("vigil.service"); !strings.Contains(j, "VI_1 entering BACKUP state") || mails("n3", "VI_1") < 2 {
			t.Errorf("no handover during the upgrade (n3's VI_1 mails: %d):\n%s", mails("n3", "VI_1"), j)
		}
	})

	t.Run("the sandbox lets every feature work: virtual MAC, accept mode, status_group, scripts", func(t *testing.T) {
		pol, _ := os.ReadFile("/etc/vigil/site.hcl")
		defer func() {
			writeInstalledPolicy(t, string(pol))
			for _, sn := range nodes {
				sn.MustSystemctl("reload", "vigil.service")
			}
		}()
		extra := strings.Replace(string(pol), `notify = ["ops-mail"]`, "notify = [\"ops-mail\"]\n  status_group = \"adm\"", 1) + `
instance "VI_4" {
  vrid     = 24
  version  = 3
  vips     = ["192.0.2.27/24"]
  priority = { n1 = 100 }
  use_vmac = true
  accept   = false
  track    = ["script"]
}

check "script" {
  plugin   = "exec"
  interval = "1s"
  weight   = -10
  config {
    command = ["/bin/sh", "-c", "test -S /run/vigil/vigil.sock && pidof nginx >/dev/null"]
  }
}
`
		writeInstalledPolicy(t, extra)
		for _, sn := range nodes {
			sn.MustSystemctl("reload", "vigil.service")
		}
		lab.WaitFor(t, 15*time.Second, "VI_4 on n1's virtual MAC", func() bool {
			out, _ := n1.Exec("ip", "-br", "addr", "show", "dev", "vrrp.24")
			return strings.Contains(out, "192.0.2.27")
		})
		if out, _ := n1.Exec("nft", "list", "table", "inet", "vigil"); !strings.Contains(out, "192.0.2.27") {
			t.Errorf("accept mode rules under the sandbox: %q", out)
		}
		if out, _ := n1.Enter("stat", "-c", "%G %a", "/run/vigil/vigil.sock"); strings.TrimSpace(out) != "adm 660" {
			t.Errorf("status socket under the sandbox: %q, want group adm, mode 660", out)
		}
		lab.WaitFor(t, 10*time.Second, "the exec script check passing under the sandbox", func() bool { return checkPasses(n1, "script") })
		owners("n1", "n2", "n3")
		if j := n1.Journal("vigil.service"); strings.Contains(j, "operation not permitted") || strings.Contains(j, "permission denied") {
			t.Errorf("the sandbox refused something:\n%s", j)
		}
	})

	t.Run("the BGP twin as deployed: the speaker under the sandbox, an upgrade fails no client", func(t *testing.T) {
		seed, _ := os.ReadFile("/etc/vigil/site.hcl")
		defer func() {
			writeInstalledPolicy(t, string(seed))
			for _, sn := range nodes {
				sn.MustSystemctl("reload", "vigil.service")
			}
			owners("n1", "n2", "n3")
		}()
		r := l.AddRouter("r1", 1)
		var addrs []netip.Addr
		for _, n := range l.Nodes {
			n.RouteVia(r)
			addrs = append(addrs, n.Addr4)
		}
		r.Start(lab.BGPConf(65000, r.Addr4, 65061, addrs, 300*time.Millisecond))
		writeInstalledPolicy(t, deployedBGPPolicy(t, l))
		for _, sn := range nodes {
			sn.MustSystemctl("reload", "vigil.service")
		}
		for i, n := range l.Nodes {
			addr := fmt.Sprintf("203.0.113.%d", 24+i)
			lab.WaitFor(t, 20*time.Second, addr+" routed to "+n.Name, func() bool { return slices.Equal(r.NextHops(addr), []string{n.Addr4.String()}) })
		}
		// The speaker runs as vigil-plugin with no capability, under the
		// unit's sandbox, and the sandbox refused nothing.
		found := false
		for _, pid := range n1.ServicePIDs("vigil.service") {
			// Run from its checked descriptor: its name is the fd's, its
			// first argument the path.
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if !strings.HasPrefix(string(cmd), "/usr/lib/vigil/vigil-bgp\x00") {
				continue
			}
			st := procStatus(pid, "Uid", "CapEff", "CapPrm")
			found = true
			if strings.HasPrefix(st["Uid"], "0 ") || st["CapEff"] != "0000000000000000" || st["CapPrm"] != "0000000000000000" {
				t.Errorf("vigil-bgp runs with %v", st)
			}
		}
		if !found {
			t.Errorf("no vigil-bgp in n1's vigil.service: %v", n1.ServicePIDs("vigil.service"))
		}
		far := netip.MustParseAddr("203.0.113.24")
		stop := clientLoop(r, "http://"+far.String()+"/")
		newest := repackaged(t, deb, "0.1.0+deployed3")
		if out, err := exec.Command("cp", newest, n1.Share).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		if out, err := n1.Enter("dpkg", "-i", "/mnt/"+filepath.Base(newest)); err != nil {
			t.Fatalf("dpkg -i on n1: %v\n%s", err, out)
		}
		lab.WaitFor(t, 20*time.Second, "203.0.113.24 routed to n1 again", func() bool { return slices.Equal(r.NextHops("203.0.113.24"), []string{"192.0.2.11"}) })
		time.Sleep(time.Second)
		codes := stop()
		failed := 0
		for _, c := range codes {
			if c != "200" {
				failed++
			}
		}
		t.Logf("dpkg -i on n1 under BGP: %d requests from behind the router, %d failed", len(codes), failed)
		if failed > 0 || len(codes) < 20 {
			t.Errorf("%d of %d requests failed across the upgrade: %v", failed, len(codes), codes)
		}
		if j := n1.Journal("vigil.service"); strings.Contains(j, "operation not permitted") || strings.Contains(j, "permission denied") || !strings.Contains(j, "BGP peer tor established") {
			t.Errorf("n1's journal:\n%s", j)
		}
	})

	t.Run("a node powers off: its VIP moves, no address stays behind", func(t *testing.T) {
		if err := n2.Poweroff(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		owners("n1", "n1", "n3")
		waitMail("n1", "VI_2", 2)
		if n2.HasAddr(vip(1)) {
			t.Error("VI_2 stayed on the powered-off node")
		}
		sn := l.BootSystemd(n2.Node, "")
		nodes[1] = sn
		sn.MustSystemctl("start", "nginx.service", "vigil.service")
		owners("n1", "n2", "n3")
	})
}

// checkPasses reports whether the node's agent has check passing, as
// vigil status says inside the node.
func checkPasses(sn *lab.SystemdNode, check string) bool {
	out, err := sn.Enter("vigil", "status", "--json")
	if err != nil {
		return false
	}
	var st api.Status
	if json.Unmarshal([]byte(out), &st) != nil {
		return false
	}
	for _, c := range st.Checks {
		if c.Name == check {
			return !c.Failing
		}
	}
	return false
}

// mainPID is a unit's main process as the node numbers it, 0 for none.
func mainPID(t *testing.T, sn *lab.SystemdNode, unit string) int {
	out, _ := sn.Systemctl("show", "-p", "MainPID", "--value", unit)
	pid, _ := strconv.Atoi(strings.TrimSpace(out))
	return pid
}

func nginxMain(t *testing.T, sn *lab.SystemdNode) int { return mainPID(t, sn, "nginx.service") }

// hostPID is a node's pid as this machine numbers it.
func hostPID(t *testing.T, sn *lab.SystemdNode, nodePID int) int {
	for _, pid := range sn.ServicePIDs("vigil.service") {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if m := regexp.MustCompile(`(?m)^NSpid:\s+\d+\s+(\d+)`).FindSubmatch(b); m != nil && string(m[1]) == strconv.Itoa(nodePID) {
			return pid
		}
	}
	t.Fatalf("no process %d in %s's vigil.service", nodePID, sn.Name)
	return 0
}
