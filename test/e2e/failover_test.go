package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

var failoverCases = []struct {
	name string
	site site
}{
	{"v2-1s", site{version: 2, interval: "1s", auth: "1322"}},
	{"v3-100ms", site{version: 3, interval: "100ms"}},
	// Unicast over IPv6 goes from the nodes' own addresses, which the
	// peers list (it went from the link-local one, and every peer refused it).
	{"v3-ipv6-unicast", site{version: 3, interval: "100ms", v6: true, unicast: true}},
}

// TestGracefulFailover: SIGTERM on VI_1's master (n1, 100): the address goes
// to the right backup (n3, 80, not n2 at 60), and back to n1 when it returns
// (preempt). At no time is it on two nodes.
func TestGracefulFailover(t *testing.T) {
	for _, c := range failoverCases {
		t.Run(c.name, func(t *testing.T) {
			l := lab.New(t, 3)
			pol := c.site.policy(t, l, 3, 3)
			var nodes []*vigilNode
			for _, n := range l.Nodes {
				nodes = append(nodes, startVigil(t, l, n, pol))
			}
			vip := c.site.vipOf(0)
			waitOwner(t, l, vip, "n1", 10*time.Second)
			stop := make(chan struct{})
			doubles := watchDoubleOwner(l, vip, stop)

			if err := nodes[0].Stop(syscall.SIGTERM, 5*time.Second); err != nil {
				t.Fatalf("n1 exit: %v", err)
			}
			waitOwner(t, l, vip, "n3", 5*time.Second)
			nodes[0] = startVigil(t, l, l.Nodes[0], pol)
			waitOwner(t, l, vip, "n1", 10*time.Second)
			close(stop)
			if d := <-doubles; len(d) > 0 {
				t.Errorf("VIP on two nodes at once: %v", d)
			}
			if nodes[2].Count("VI_1 entering MASTER state") != 1 || nodes[2].Count("VI_1 entering BACKUP state") != 2 {
				t.Errorf("n3 transitions:\n%s", nodes[2].Output())
			}
		})
	}
}

// TestCrashFailover: n1's link is cut (a hung host or pulled cable): n3
// takes VI_1 after the master-down interval; when the link returns n1
// preempts and n3 steps down at once, leaving one owner.
func TestCrashFailover(t *testing.T) {
	for _, c := range failoverCases {
		t.Run(c.name, func(t *testing.T) {
			l := lab.New(t, 3)
			pol := c.site.policy(t, l, 3, 3)
			var nodes []*vigilNode
			for _, n := range l.Nodes {
				nodes = append(nodes, startVigil(t, l, n, pol))
			}
			vip := c.site.vipOf(0)
			waitOwner(t, l, vip, "n1", 10*time.Second)
			l.Nodes[0].CutLink()
			// n1 cannot hear anyone, so it keeps the address too; what
			// counts is that the rest of the site moved it to n3.
			lab.WaitFor(t, 6*time.Second, "n3 to take VI_1", func() bool { return l.Nodes[2].HasAddr(vip) })
			if l.Nodes[1].HasAddr(vip) {
				t.Error("n2 (60) took VI_1 although n3 (80) is up")
			}
			l.Nodes[0].RestoreLink()
			waitOwner(t, l, vip, "n1", 5*time.Second)
			stop := make(chan struct{})
			doubles := watchDoubleOwner(l, vip, stop)
			time.Sleep(10 * nodes[0].interval(c.site))
			close(stop)
			if d := <-doubles; len(d) > 0 {
				t.Errorf("VIP on two nodes after adverts flow again: %v", d)
			}
		})
	}
}

func (v *vigilNode) interval(s site) time.Duration {
	d, _ := time.ParseDuration(s.interval)
	return d
}

// TestInterfaceDown: the master's own interface goes down (inside the node,
// as a failed NIC would): it enters FAULT and removes its VIP; the backup
// takes over; when the interface returns the master rejoins and preempts.
func TestInterfaceDown(t *testing.T) {
	l := lab.New(t, 2)
	s := site{version: 3, interval: "100ms"}
	pol := s.policy(t, l, 2, 1)
	v1 := startVigil(t, l, l.Nodes[0], pol)
	startVigil(t, l, l.Nodes[1], pol)
	vip := s.vipOf(0)
	waitOwner(t, l, vip, "n1", 5*time.Second)
	l.Nodes[0].MustExec("ip", "link", "set", "eth0", "down")
	lab.WaitFor(t, 3*time.Second, "n1 in FAULT", func() bool { return v1.state("VI_1") == "FAULT" })
	if l.Nodes[0].HasAddr(vip) {
		t.Error("n1 kept its VIP in FAULT")
	}
	waitOwner(t, l, vip, "n2", 3*time.Second)
	l.Nodes[0].MustExec("ip", "link", "set", "eth0", "up")
	waitOwner(t, l, vip, "n1", 5*time.Second)
	if v1.Count("VI_1 entering FAULT state") != 1 || !strings.Contains(v1.Output(), `reason="interface eth0 is down"`) {
		t.Errorf("log:\n%s", v1.Output())
	}
}
