package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestSeedSite: three Vigil nodes, each MASTER of one VIP (the seed's site,
// corrected). Every VIP ends on its master and nowhere else, and the client
// reaches all three, each answered by its master.
func TestSeedSite(t *testing.T) {
	l := lab.New(t, 3)
	s := site{version: 2, interval: "1s", auth: "1322"}
	pol := s.policy(t, l, 3, 3)
	var nodes []*vigilNode
	for _, n := range l.Nodes {
		n.ServeName(probePort)
		nodes = append(nodes, startVigil(t, l, n, pol))
	}
	if testing.Verbose() {
		defer func() { t.Log(nodes[0].Output()) }()
	}
	for i, n := range l.Nodes {
		waitOwner(t, l, s.vipOf(i), n.Name, 10*time.Second)
	}
	for i, n := range l.Nodes {
		got, err := l.Client.Probe(s.vipOf(i), probePort, time.Second)
		if err != nil || got != n.Name {
			t.Errorf("client to %v: answered by %q (%v), want %s", s.vipOf(i), got, err, n.Name)
		}
	}
}

// TestStopRemovesVIPs: SIGTERM leaves no VIP behind and exits 0.
func TestStopRemovesVIPs(t *testing.T) {
	l := lab.New(t, 1)
	s := site{version: 3, interval: "100ms"}
	v := startVigil(t, l, l.Nodes[0], s.policy(t, l, 1, 1))
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	if err := v.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, v.Output())
	}
	if h := holders(l, s.vipOf(0)); len(h) != 0 {
		t.Errorf("VIP left on %v after SIGTERM", h)
	}
	for _, want := range []string{"VI_1 entering MASTER state", "VI_1 sent 0 priority", "VI_1 removing protocol VIPs"} {
		if v.Count(want) != 1 {
			t.Errorf("log has %d lines %q, want 1:\n%s", v.Count(want), want, v.Output())
		}
	}
}

// TestVIPRemovedByOthers: a VIP deleted under a running master, as
// NetworkManager or systemd-networkd reapplying their configuration do
// (keepalived #2479), is back at once, and the line says so.
func TestVIPRemovedByOthers(t *testing.T) {
	l := lab.New(t, 1)
	s := site{version: 3, interval: "100ms"}
	v := startVigil(t, l, l.Nodes[0], s.policy(t, l, 1, 1))
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	for i := range 3 {
		l.Nodes[0].MustExec("ip", "addr", "del", s.vipOf(0).String()+"/24", "dev", "eth0")
		waitOwner(t, l, s.vipOf(0), "n1", time.Second)
		if i == 0 && v.Count("was removed from eth0 by someone else; put back") != 1 {
			t.Errorf("no log line for the restore:\n%s", v.Output())
		}
	}
	if err := v.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, v.Output())
	}
	if h := holders(l, s.vipOf(0)); len(h) != 0 {
		t.Errorf("VIP left on %v after SIGTERM", h)
	}
}

// TestCrashRecovery: an agent killed with SIGKILL leaves its VIP behind; the
// next start removes it before anything else, then runs normally.
func TestCrashRecovery(t *testing.T) {
	l := lab.New(t, 2)
	s := site{version: 3, interval: "100ms"}
	pol := s.policy(t, l, 2, 1)
	v1 := startVigil(t, l, l.Nodes[0], pol)
	startVigil(t, l, l.Nodes[1], pol)
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	v1.Stop(syscall.SIGKILL, time.Second)
	// n2 takes over while the dead n1 still has the address configured.
	lab.WaitFor(t, 3*time.Second, "n2 to take over", func() bool { return l.Nodes[1].HasAddr(s.vipOf(0)) })
	if !l.Nodes[0].HasAddr(s.vipOf(0)) {
		t.Fatal("SIGKILL removed the VIP; the test needs it left behind")
	}
	v1 = startVigil(t, l, l.Nodes[0], pol)
	if v1.Count("removed VIP left by a previous run") < 1 {
		t.Errorf("restart did not report the leftover VIP:\n%s", v1.Output())
	}
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
}

// TestCleanupAfterKill: `vigil cleanup` (systemd's ExecStopPost) removes
// the VIP a SIGKILLed agent left and nothing else; while an agent runs it
// refuses and touches nothing.
func TestCleanupAfterKill(t *testing.T) {
	l := lab.New(t, 1)
	n := l.Nodes[0]
	s := site{version: 3, interval: "100ms"}
	pol := s.policy(t, l, 1, 1)
	cleanup := func() (string, error) {
		return n.Exec(vigilBin, "cleanup", "--state-dir", filepath.Join(l.Dir, n.Name+"-state"), "--policy", pol, "--node", n.Name)
	}
	v := startVigil(t, l, n, pol)
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	if out, err := cleanup(); err == nil || !strings.Contains(out, "an agent is running") {
		t.Errorf("cleanup next to a running agent: %v\n%s", err, out)
	}
	if !n.HasAddr(s.vipOf(0)) || !n.HasAddr(n.Addr4) {
		t.Fatal("cleanup removed an address while the agent ran")
	}
	// A second agent on the same state directory (another socket, as a
	// hand-started debugging run would have) is refused before it
	// recovers anything: the live agent's VIP never goes.
	second := n.Start("vigil-2", vigilBin, "agent", "--policy", pol, "--node", n.Name,
		"--state-dir", filepath.Join(l.Dir, n.Name+"-state"), "--socket", filepath.Join(l.Dir, "second.sock"))
	missing := 0
	for range 40 {
		if !n.HasAddr(s.vipOf(0)) {
			missing++
		}
		time.Sleep(50 * time.Millisecond)
	}
	if second.Running() || !strings.Contains(second.Output(), "another agent runs with the state directory") {
		t.Errorf("a second agent on the same state directory was not refused:\n%s", second.Output())
	}
	if missing > 0 {
		t.Errorf("the live agent's VIP was missing in %d of 40 samples while a second agent started", missing)
	}
	v.Stop(syscall.SIGKILL, time.Second)
	if !n.HasAddr(s.vipOf(0)) {
		t.Fatal("SIGKILL removed the VIP; the test needs it left behind")
	}
	// A forged record entry naming the node's own address is not
	// trusted: cleanup removes the VIP, never the node's address.
	rec := filepath.Join(l.Dir, n.Name+"-state", "vips.json")
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(b), `"vips":[`, fmt.Sprintf(`"vips":[{"prefix":"%s/24","interface":"eth0"},`, n.Addr4), 1)
	if forged == string(b) {
		t.Fatalf("record %s: cannot forge an entry", b)
	}
	os.WriteFile(rec, []byte(forged), 0o600)
	// Something that answers on the dead agent's socket does not make
	// cleanup believe an agent runs.
	var fake net.Listener
	n.Do(func() {
		os.Remove(v.socket)
		fake, _ = net.Listen("unix", v.socket)
	})
	if fake != nil {
		go http.Serve(fake, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("{}")) }))
		defer fake.Close()
	}
	out, err := cleanup()
	if err != nil || !strings.Contains(out, "removed VIP left by a previous run") {
		t.Fatalf("cleanup: %v\n%s", err, out)
	}
	if n.HasAddr(s.vipOf(0)) {
		t.Error("VIP still there after cleanup")
	}
	if !n.HasAddr(n.Addr4) {
		t.Error("cleanup removed the node's own address")
	}
	if out, err := cleanup(); err != nil {
		t.Errorf("a second cleanup: %v\n%s", err, out)
	}
}
