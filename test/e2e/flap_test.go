package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/transport"
	"github.com/vigil-ha/vigil/test/lab"
)

// TestFlappingCheck: a check plugin pushes pass/fail about 10,000 times a
// second for 5 s on the master. Its changes are held to one a second
// (core/track FlapHold), so priority changes and extra adverts stay
// bounded, the master's adverts keep their 100 ms cadence, and the
// address stays (the weight cannot move it).
func TestFlappingCheck(t *testing.T) {
	l := lab.New(t, 2)
	s := site{version: 3, interval: "100ms"}
	pol := s.pluginPolicy(t, l, 2, 1, `  plugin_user = "nobody"`, []string{"flap"}, fmt.Sprintf(`
check "flap" {
  plugin   = "testplugin"
  interval = "1s"
  weight   = -10
  nodes    = ["n1"]
}

plugin "testplugin" {
  path = %q
  args = ["flapcheck"]
}
`, testPluginBin))
	n1, n2 := l.Nodes[0], l.Nodes[1]
	// n1's adverts as n2 receives them, stamped by the kernel.
	var conn *transport.Conn
	n2.Do(func() {
		var err error
		if conn, err = transport.Listen("eth0", false, n2.Addr4); err != nil {
			t.Fatal(err)
		}
	})
	defer conn.Close()
	if err := conn.Accept([]uint8{21}); err != nil { // VI_1's VRID in the lab policy
		t.Fatal(err)
	}
	v1 := startVigil(t, l, n1, pol)
	startVigil(t, l, n2, pol)
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	lab.WaitFor(t, 5*time.Second, "the flapping check's first push", func() bool { return v1.Count("check is flapping") > 0 })

	sent0 := v1.status(t, "VI_1").Counters["adverts_sent"]
	changes0 := v1.Count("changing effective priority")
	var arrivals []time.Time
	buf := make([]byte, 1500)
	stop := time.AfterFunc(6*time.Second, func() { conn.Close() }) // bounds a Read that never returns
	defer stop.Stop()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		p, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading n1's adverts: %v (%d read)", err, len(arrivals))
		}
		if p.Src == n1.Addr4 {
			arrivals = append(arrivals, p.At)
		}
	}
	changes := v1.Count("changing effective priority") - changes0
	sent := v1.status(t, "VI_1").Counters["adverts_sent"] - sent0
	var gaps []time.Duration
	for i := 1; i < len(arrivals); i++ {
		gaps = append(gaps, arrivals[i].Sub(arrivals[i-1]))
	}
	if len(gaps) < 40 {
		t.Fatalf("%d adverts from n1 in 5 s, want about 50", len(arrivals))
	}
	slices.Sort(gaps)
	t.Logf("5 s of flapping: %d priority changes, %d adverts sent, %d received; gaps min %v median %v max %v",
		changes, sent, len(arrivals), gaps[0], gaps[len(gaps)/2], gaps[len(gaps)-1])
	if changes > 12 { // one per second, plus the edges
		t.Errorf("%d priority changes in 5 s of flapping, want about one a second", changes)
	}
	if sent > 50+uint64(changes)+5 { // 10 a second, plus one per priority change
		t.Errorf("%d adverts in 5 s, want about 50 and one per priority change", sent)
	}
	// The cadence holds: no advert is late by more than 20 ms. (A priority
	// change sends one at once, which makes a shorter gap.)
	if max := gaps[len(gaps)-1]; max > 120*time.Millisecond {
		t.Errorf("longest gap between the master's adverts %v, want at most 120 ms", max)
	}
	if h := holders(l, s.vipOf(0)); len(h) != 1 || h[0] != "n1" {
		t.Errorf("VI_1 on %v", h)
	}
	if !v1.Running() {
		t.Fatal("n1 died")
	}
}
