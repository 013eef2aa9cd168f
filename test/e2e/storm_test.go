package e2e

import (
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestBootTogether: both nodes start at the same moment, one of them
// reloaded during start-up: once adverts flow, one master holds the VIP.
func TestBootTogether(t *testing.T) {
	l := lab.New(t, 2)
	s := site{version: 3, interval: "100ms"}
	pol := s.policy(t, l, 2, 1)
	var wg sync.WaitGroup
	nodes := make([]*vigilNode, 2)
	for i, n := range l.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); nodes[i] = startVigil(t, l, n, pol) }()
	}
	wg.Wait()
	nodes[1].Cmd.Process.Signal(syscall.SIGHUP) // a reload during start-up
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	oneOwnerFor(t, l, s.vipOf(0), time.Second, "after start-up")
}

// oneOwnerFor samples addr for d and reports two owners, when.
func oneOwnerFor(t *testing.T, l *lab.Lab, addr netip.Addr, d time.Duration, when string) {
	t.Helper()
	stop := make(chan struct{})
	doubles := watchDoubleOwner(l, addr, stop)
	time.Sleep(d)
	close(stop)
	if got := <-doubles; len(got) > 0 {
		t.Errorf("two masters %s: %v", when, got)
	}
}

// TestLinkFlaps: the master's link flaps 20 times in 10 s; it ends with
// one master and the VIP on exactly one node, and the daemons up.
func TestLinkFlaps(t *testing.T) {
	l := lab.New(t, 2)
	s := site{version: 3, interval: "100ms"}
	pol := s.policy(t, l, 2, 1)
	var nodes []*vigilNode
	for _, n := range l.Nodes {
		nodes = append(nodes, startVigil(t, l, n, pol))
	}
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	for range 20 {
		l.Nodes[0].CutLink()
		time.Sleep(250 * time.Millisecond)
		l.Nodes[0].RestoreLink()
		time.Sleep(250 * time.Millisecond)
	}
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	oneOwnerFor(t, l, s.vipOf(0), time.Second, "after the flaps settled")
	for _, v := range nodes {
		if !v.Running() {
			t.Errorf("%s died:\n%s", v.node.Name, v.Output())
		}
	}
}

// TestReloadStorm: 100 SIGHUPs in 10 s, alternating a valid change (VI_2's
// VIP set), the unchanged policy and a broken one. The daemons stay up, the
// unchanged instance VI_1 never changes state nor loses its address, and
// the last valid policy is what runs.
func TestReloadStorm(t *testing.T) {
	l := lab.New(t, 2)
	s := site{version: 3, interval: "100ms"}
	pol := s.policy(t, l, 2, 2)
	var nodes []*vigilNode
	for _, n := range l.Nodes {
		nodes = append(nodes, startVigil(t, l, n, pol))
	}
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	waitOwner(t, l, s.vipOf(1), "n2", 5*time.Second)
	before := map[string]int{}
	for _, v := range nodes {
		before[v.node.Name] = v.status(t, "VI_1").Transitions
	}
	orig, _ := os.ReadFile(pol)
	changed := strings.Replace(string(orig), `vips            = ["192.0.2.102/24"]`, `vips            = ["192.0.2.102/24", "192.0.2.112/24"]`, 1)
	if changed == string(orig) {
		t.Fatal("test policy did not have the expected VI_2 line")
	}
	broken := string(orig) + "\ninstance \"VI_9\" {\n  vrid = 300\n}\n"
	versions := []string{changed, string(orig), broken}
	// VI_1's address is sampled all along: it must never be missing.
	stop := make(chan struct{})
	missing := make(chan int, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				missing <- n
				return
			case <-time.After(10 * time.Millisecond):
			}
			if !l.Nodes[0].HasAddr(s.vipOf(0)) {
				n++
			}
		}
	}()
	for i := range 100 {
		os.WriteFile(pol, []byte(versions[i%3]), 0o644)
		for _, v := range nodes {
			v.Cmd.Process.Signal(syscall.SIGHUP)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The last write (i = 99) was the changed policy: the extra VIP runs.
	waitOwner(t, l, netip.MustParseAddr("192.0.2.112"), "n2", 5*time.Second)
	close(stop)
	if n := <-missing; n > 0 {
		t.Errorf("VI_1's address was missing in %d samples during the storm", n)
	}
	for _, v := range nodes {
		if !v.Running() {
			t.Fatalf("%s died:\n%.3000s", v.node.Name, v.Output())
		}
		if got := v.status(t, "VI_1").Transitions; got != before[v.node.Name] {
			t.Errorf("%s VI_1: %d transitions during the storm", v.node.Name, got-before[v.node.Name])
		}
	}
}
