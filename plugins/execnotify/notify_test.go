package execnotify

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/sdk"
)

func configured(t *testing.T, cfg map[string]any) *Notifier {
	t.Helper()
	n := New().(*Notifier)
	if err := n.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKeepalivedArguments: the generic command gets keepalived's four
// arguments, the per-state one runs first, INIT on shutdown is STOP, and
// the FIFO gets keepalived's line, in order; a priority change is a FIFO
// line alone.
func TestKeepalivedArguments(t *testing.T) {
	dir := t.TempDir()
	journal := filepath.Join(dir, "journal")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 10)
	go func() {
		f, err := os.OpenFile(fifo, os.O_RDWR, 0) // a reader that stays
		if err != nil {
			return
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	n := configured(t, map[string]any{
		"command": []any{"/bin/sh", "-c", `echo "$@" >>` + journal, "notify"},
		"master":  []any{"/bin/sh", "-c", "echo entering master >>" + journal},
		"fifo":    fifo,
	})
	ctx := context.Background()
	for _, to := range []string{"MASTER", "BACKUP", "INIT"} {
		if err := n.Notify(ctx, sdk.Event{Instance: "VI_1", To: to, Priority: 100}); err != nil {
			t.Fatal(err)
		}
	}
	// A sync group's events: GROUP lines with priority 0; its STOP only
	// runs a stop command (keepalived's generic notify has no group STOP).
	for _, to := range []string{"MASTER", "INIT"} {
		if err := n.Notify(ctx, sdk.Event{Group: "VG_1", To: to}); err != nil {
			t.Fatal(err)
		}
	}
	// Priority changes (notify_priority_changes): a FIFO line only.
	for _, to := range []string{"MASTER", "BACKUP", "FAULT"} {
		if err := n.Notify(ctx, sdk.Event{Instance: "VI_1", From: to, To: to, Priority: 140, PriorityChange: true}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(journal)
	want := "entering master\nINSTANCE VI_1 MASTER 100\nINSTANCE VI_1 BACKUP 100\nINSTANCE VI_1 STOP 100\n" +
		"entering master\nGROUP VG_1 MASTER 0\n"
	if string(b) != want {
		t.Errorf("commands ran:\n%s\nwant:\n%s", b, want)
	}
	for _, w := range []string{`INSTANCE "VI_1" MASTER 100`, `INSTANCE "VI_1" BACKUP 100`, `INSTANCE "VI_1" STOP 100`, `GROUP "VG_1" MASTER 0`,
		`INSTANCE "VI_1" MASTER_PRIORITY 140`, `INSTANCE "VI_1" BACKUP_PRIORITY 140`, `INSTANCE "VI_1" BACKUP_PRIORITY 140`} {
		select {
		case got := <-lines:
			if got != w {
				t.Errorf("fifo line %q, want %q", got, w)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no fifo line %q", w)
		}
	}
}

// TestFIFOWithoutReaderIsRetried: no reader is an error, so the queue
// keeps the event; nothing else runs for it meanwhile.
func TestFIFOWithoutReaderIsRetried(t *testing.T) {
	dir := t.TempDir()
	fifo, journal := filepath.Join(dir, "fifo"), filepath.Join(dir, "journal")
	syscall.Mkfifo(fifo, 0o600)
	n := configured(t, map[string]any{"fifo": fifo, "command": []any{"/bin/sh", "-c", "echo ran >>" + journal}})
	if err := n.Notify(context.Background(), sdk.Event{Instance: "VI_1", To: "MASTER"}); err == nil || !strings.Contains(err.Error(), "no reader") {
		t.Errorf("got %v", err)
	}
	if _, err := os.Stat(journal); err == nil {
		t.Error("the command ran for an event that will be delivered again")
	}
}

// TestCommandTimeout: a command that hangs is killed at the timeout and
// the event counts as delivered (keepalived runs a notify script once).
func TestCommandTimeout(t *testing.T) {
	n := configured(t, map[string]any{"command": []any{"/bin/sleep", "30"}, "timeout": "100ms"})
	start := time.Now()
	if err := n.Notify(context.Background(), sdk.Event{Instance: "VI_1", To: "MASTER"}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a hanging command held the notifier %v", took)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, "nothing to do"},
		{map[string]any{"master": []any{"/nonexistent/notify.sh"}}, "master"},
		{map[string]any{"command": []any{"/bin/true"}, "timeout": "soon"}, "timeout"},
	} {
		err := New().(*Notifier).Configure(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestFIFOReaderThatStopsReading: a reader that holds the FIFO open and
// never reads fills its buffer; the write ends at the call's deadline
// with an error instead of hanging the notifier (and, in a shared
// process, every other block).
func TestFIFOReaderThatStopsReading(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	syscall.Mkfifo(fifo, 0o600)
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := configured(t, map[string]any{"fifo": fifo})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	var last error
	for i := 0; i < 10000 && time.Since(start) < 5*time.Second; i++ {
		if last = n.Notify(ctx, sdk.Event{Instance: "VI_1", To: "MASTER", Priority: 100}); last != nil {
			break
		}
	}
	if last == nil {
		t.Fatal("10,000 lines went into a FIFO nobody reads")
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("the write held the notifier %v", took)
	}
}

// TestFIFOMustBeAFIFO: a symbolic link or a regular file where the FIFO
// should be is refused at configure time and never written.
func TestFIFOMustBeAFIFO(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	os.WriteFile(target, []byte("keep\n"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	for _, path := range []string{link, target} {
		err := New().(*Notifier).Configure(context.Background(), map[string]any{"fifo": path})
		if err == nil || !strings.Contains(err.Error(), "not a FIFO") {
			t.Errorf("fifo %s: %v", path, err)
		}
		// Swapped in after configuration: still never written.
		n := &Notifier{cfg: config{FIFO: path}, timeout: time.Second}
		if err := n.Notify(context.Background(), sdk.Event{Instance: "VI_1", To: "MASTER"}); err == nil {
			t.Errorf("fifo %s: written", path)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Errorf("the file behind the FIFO's name was written: %q", b)
	}
}

// TestScriptSecurity: with script_security, a notify script run as root
// that anyone can change is refused (keepalived's enable_script_security).
func TestScriptSecurity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("script_security applies to scripts run as root: run as root")
	}
	sh := filepath.Join(t.TempDir(), "master.sh")
	os.WriteFile(sh, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	os.Chmod(sh, 0o777)
	err := New().(*Notifier).Configure(context.Background(), map[string]any{"master": []any{"/bin/sh", "-c", sh}, "script_security": true})
	if err == nil || !strings.Contains(err.Error(), "master") || !strings.Contains(err.Error(), "writable by every user") {
		t.Errorf("insecure notify script: %v", err)
	}
}
