package fileweight

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/sdk"
)

func configured(t *testing.T, cfg map[string]any) *Check {
	t.Helper()
	c := New().(*Check)
	if err := c.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		text string
		want int64
	}{
		{"-100\n", -100}, {"  42 drained by ops\n", 42}, {"0", 0}, {"drain", 0}, {"", 0},
		{"99999999999999999999", 0}, // not an int64: no number
	} {
		p := filepath.Join(dir, "f")
		os.WriteFile(p, []byte(c.text), 0o644)
		if got, _ := read(p); got != c.want {
			t.Errorf("read(%q) = %d, want %d", c.text, got, c.want)
		}
	}
	if got, msg := read(filepath.Join(dir, "missing")); got != 0 || msg == "" {
		t.Errorf("missing file: %d %q", got, msg)
	}
}

func TestInitFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "drain")
	configured(t, map[string]any{"file": p, "init": float64(5)})
	if b, _ := os.ReadFile(p); string(b) != "5\n" {
		t.Errorf("init wrote %q", b)
	}
	configured(t, map[string]any{"file": p, "init": float64(7)}) // exists: kept
	if b, _ := os.ReadFile(p); string(b) != "5\n" {
		t.Errorf("init without overwrite changed the file: %q", b)
	}
	configured(t, map[string]any{"file": p, "init": float64(7), "init_overwrite": true})
	if b, _ := os.ReadFile(p); string(b) != "7\n" {
		t.Errorf("init_overwrite wrote %q", b)
	}
	for _, bad := range []map[string]any{{"file": "drain"}, {"file": p, "init_overwrite": true}} {
		if err := New().(*Check).Configure(context.Background(), bad); err == nil {
			t.Errorf("Configure(%v) accepted", bad)
		}
	}
}

// TestWatchPushesChanges: writes, a replace by rename and a removal are
// each pushed at once, without polling, and only once written.
func TestWatchPushesChanges(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "drain")
	os.WriteFile(p, []byte("0\n"), 0o644)
	c := configured(t, map[string]any{"file": p})
	got := make(chan int64, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Watch(ctx, func(r sdk.Result) { got <- *r.Value })
	// Each change is pushed once, as its final value: a write that
	// truncates first (as `echo -30 > drain` does) is never seen empty,
	// which would read 0 and restore the full priority for a moment.
	expect := func(want int64) {
		t.Helper()
		select {
		case v := <-got:
			if v != want {
				t.Fatalf("pushed %d, want %d", v, want)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("value %d never pushed", want)
		}
	}
	expect(0)
	os.WriteFile(p, []byte("-100\n"), 0o644)
	expect(-100)
	os.WriteFile(p, []byte("-50\n"), 0o644)
	expect(-50)
	tmp := filepath.Join(dir, "drain.new")
	os.WriteFile(tmp, []byte("-30\n"), 0o644)
	os.Rename(tmp, p)
	expect(-30)
	os.Remove(p)
	expect(0)
	os.WriteFile(p, []byte("12\n"), 0o644)
	expect(12)
}

// TestUnwatchableDirectoryIsPolled: a directory the plugin cannot watch is
// read every second; the stream does not fail (a failing stream counts as
// a failed check, and faulted instances with weight 0).
func TestUnwatchableDirectoryIsPolled(t *testing.T) {
	c := configured(t, map[string]any{"file": "/nonexistent-dir-for-vigil-test/drain"})
	got := make(chan int64, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, func(r sdk.Result) { got <- *r.Value }) }()
	select {
	case v := <-got:
		if v != 0 {
			t.Errorf("missing file read as %d", v)
		}
	case err := <-done:
		t.Fatalf("Watch ended: %v", err)
	case <-time.After(3 * time.Second):
		t.Fatal("nothing pushed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch: %v", err)
	}
}
