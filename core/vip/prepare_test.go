package vip

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPrepareCaches: Prepare resolves the interface ahead of the first Add,
// and an unknown name is an error that caches nothing.
func TestPrepareCaches(t *testing.T) {
	c, err := NewConfigurer()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Prepare("lo"); err != nil {
		t.Fatalf("Prepare(lo): %v", err)
	}
	if _, ok := c.links["lo"]; !ok {
		t.Error("lo not cached after Prepare")
	}
	if err := c.Prepare("no-such-if0"); err == nil {
		t.Error("Prepare of a missing interface succeeded")
	}
	if _, ok := c.links["no-such-if0"]; ok {
		t.Error("a missing interface was cached")
	}
}

// TestAnnouncerPrepare: Prepare caches the interface, fails on a missing
// one, and never waits for a burst's pauses (the engine's loop calls it):
// the interface's lock is held for one packet, not for the burst.
func TestAnnouncerPrepare(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: packet sockets need root")
	}
	an := NewAnnouncer()
	defer an.Close()
	if err := an.Prepare("lo", false); err != nil {
		t.Fatalf("Prepare(lo): %v", err)
	}
	if an.links["lo"].ifi == nil {
		t.Error("lo not cached after Prepare")
	}
	if err := an.Prepare("no-such-if0", false); err == nil {
		t.Error("Prepare of a missing interface succeeded")
	}
	lo := Addr{Prefix: netip.MustParsePrefix("127.0.0.2/8"), Interface: "lo"}
	go an.Burst([]Addr{lo}, 3, time.Second, 0) // paced: about 3 s
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := an.Prepare("lo", false); err != nil {
		t.Errorf("Prepare during a burst: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Prepare waited %v for a burst in progress", d)
	}
}

// An unknown scope is an error, not silently a global address.
func TestUnknownScope(t *testing.T) {
	a := Addr{Prefix: netip.MustParsePrefix("192.0.2.1/24"), Scope: "galactic", Interface: "eth0"}
	if _, err := a.netlink(); err == nil || !strings.Contains(err.Error(), "unknown scope") {
		t.Errorf("scope galactic: %v", err)
	}
	for _, s := range []string{"", "global", "site", "link", "host"} {
		a.Scope = s
		if _, err := a.netlink(); err != nil {
			t.Errorf("scope %q: %v", s, err)
		}
	}
}
