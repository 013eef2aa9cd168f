package e2e

import (
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestReload: SIGHUP with one instance's VIP set changed updates that VIP
// set in place; no instance on any node changes state. A broken policy on
// SIGHUP is refused and the running one stays.
func TestReload(t *testing.T) {
	l := lab.New(t, 3)
	s := site{version: 3, interval: "100ms"}
	pol := s.policy(t, l, 3, 3)
	var nodes []*vigilNode
	for _, n := range l.Nodes {
		nodes = append(nodes, startVigil(t, l, n, pol))
	}
	for i, n := range l.Nodes {
		waitOwner(t, l, s.vipOf(i), n.Name, 10*time.Second)
	}
	before := map[string]int{}
	for _, v := range nodes {
		for _, in := range []string{"VI_1", "VI_2", "VI_3"} {
			before[v.node.Name+in] = v.status(t, in).Transitions
		}
	}

	// VI_2 gains a second address.
	src, _ := os.ReadFile(pol)
	extra := netip.MustParseAddr("192.0.2.112")
	changed := strings.Replace(string(src), `vips            = ["192.0.2.102/24"]`, `vips            = ["192.0.2.102/24", "192.0.2.112/24"]`, 1)
	if changed == string(src) {
		t.Fatal("test policy did not have the expected VI_2 line")
	}
	if err := os.WriteFile(pol, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range nodes {
		v.Cmd.Process.Signal(syscall.SIGHUP)
	}
	waitOwner(t, l, extra, "n2", 5*time.Second)
	waitOwner(t, l, s.vipOf(1), "n2", time.Second)
	// Give the backups several master-down intervals to show any upset.
	time.Sleep(time.Second)
	for _, v := range nodes {
		lab.WaitFor(t, 2*time.Second, v.node.Name+" to log the reload", func() bool { return v.Count("reload done") == 1 })
		for _, in := range []string{"VI_1", "VI_2", "VI_3"} {
			if got := v.status(t, in).Transitions; got != before[v.node.Name+in] {
				t.Errorf("%s %s: %d transitions after reload, %d before", v.node.Name, in, got, before[v.node.Name+in])
			}
		}
	}

	// A broken policy: the agents say why and keep running the old one.
	if err := os.WriteFile(pol, []byte(changed+"\ninstance \"VI_9\" {\n  vrid = 300\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range nodes {
		v.Cmd.Process.Signal(syscall.SIGHUP)
	}
	for _, v := range nodes {
		lab.WaitFor(t, 2*time.Second, v.node.Name+" to refuse the broken policy", func() bool {
			return v.Count("reload failed, keeping the running policy") == 1
		})
		if !strings.Contains(v.Output(), "VRID out of range") || !v.Running() {
			t.Errorf("%s: broken policy not reported or agent died:\n%s", v.node.Name, v.Output())
		}
	}
	// A hostile file: 100,000 nested brackets used to overflow the stack
	// and kill the agent, VIPs up. It is refused like any broken policy.
	if err := os.WriteFile(pol, []byte("a = "+strings.Repeat("[", 100000)+strings.Repeat("]", 100000)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range nodes {
		v.Cmd.Process.Signal(syscall.SIGHUP)
	}
	for _, v := range nodes {
		lab.WaitFor(t, 2*time.Second, v.node.Name+" to refuse the hostile policy", func() bool {
			return v.Count("reload failed, keeping the running policy") == 2
		})
		if !strings.Contains(v.Output(), "Policy nested too deeply") || !v.Running() {
			t.Errorf("%s: hostile policy not reported or agent died:\n%.3000s", v.node.Name, v.Output())
		}
	}
	for i, n := range l.Nodes {
		waitOwner(t, l, s.vipOf(i), n.Name, time.Second)
	}
	waitOwner(t, l, extra, "n2", time.Second)
}
