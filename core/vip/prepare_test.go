package vip

import (
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
// one, and never waits for a burst in progress (the engine's loop calls it).
func TestAnnouncerPrepare(t *testing.T) {
	an := NewAnnouncer()
	defer an.Close()
	if err := an.Prepare("lo", false); err != nil {
		t.Fatalf("Prepare(lo): %v", err)
	}
	if an.ifis["lo"] == nil {
		t.Error("lo not cached after Prepare")
	}
	if err := an.Prepare("no-such-if0", false); err == nil {
		t.Error("Prepare of a missing interface succeeded")
	}
	an.mu.Lock() // as a burst holds it
	done := make(chan error, 1)
	go func() { done <- an.Prepare("lo", false) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Prepare during a burst: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Error("Prepare waited for a burst in progress")
	}
	an.mu.Unlock()
}
