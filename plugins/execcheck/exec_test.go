package execcheck_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/plugins/execcheck"
	"github.com/vigil-ha/vigil/sdk"
)

func TestExitStatusIsHealth(t *testing.T) {
	cases := []struct {
		cmd     []any
		healthy bool
		msg     string
	}{
		{[]any{"/bin/true"}, true, "exited 0"},
		{[]any{"/bin/sh", "-c", "echo no nginx master; exit 3"}, false, "exited 3: no nginx master"},
		{[]any{"/bin/sleep", "5"}, false, "killed"},
	}
	for _, c := range cases {
		p := execcheck.New().(*execcheck.Check)
		if err := p.Configure(context.Background(), map[string]any{"command": c.cmd}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		r, err := p.Check(ctx)
		cancel()
		if err != nil || r.Healthy != c.healthy || !strings.Contains(r.Message, c.msg) {
			t.Errorf("%v: %+v %v, want healthy=%v with %q", c.cmd, r, err, c.healthy, c.msg)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []map[string]any{{}, {"command": []any{"/nonexistent/check"}}, {"script": "x"}} {
		err := execcheck.New().Configure(context.Background(), cfg)
		if _, ok := err.(sdk.ConfigErrors); !ok {
			t.Errorf("Configure(%v) = %v, want ConfigErrors", cfg, err)
		}
	}
}

// TestTimeoutKillsTheScriptsChildren: a check script that times out is
// killed with what it started; nothing of it runs on.
func TestTimeoutKillsTheScriptsChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	c := execcheck.New().(sdk.Check)
	if err := c.Configure(context.Background(), map[string]any{"command": []any{"/bin/sh", "-c", "sleep 30 & echo $! > " + pidFile + "; wait"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if r, err := c.Check(ctx); err != nil || r.Healthy {
		t.Fatalf("a hung script: %+v %v", r, err)
	}
	b, _ := os.ReadFile(pidFile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("no child pid: %q", b)
	}
	for range 100 {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("the script's child %d outlived the check's timeout", pid)
}

// TestScriptSecurity: with script_security, a check that would run as root
// a script anyone can change is refused at Configure, as keepalived's
// enable_script_security disables it; without it, it runs.
func TestScriptSecurity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("script_security applies to checks run as root: run as root")
	}
	sh := filepath.Join(t.TempDir(), "check.sh")
	os.WriteFile(sh, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	os.Chmod(sh, 0o777)
	cmd := []any{"/bin/sh", "-c", sh}
	err := execcheck.New().Configure(context.Background(), map[string]any{"command": cmd, "script_security": true})
	if ce, ok := err.(sdk.ConfigErrors); !ok || !strings.Contains(ce.Error(), "writable by every user") {
		t.Errorf("insecure script with script_security: %v", err)
	}
	if err := execcheck.New().Configure(context.Background(), map[string]any{"command": cmd}); err != nil {
		t.Errorf("without script_security: %v", err)
	}
	os.Chmod(sh, 0o755)
	if err := execcheck.New().Configure(context.Background(), map[string]any{"command": cmd, "script_security": true}); err != nil {
		t.Errorf("a secure script refused: %v", err)
	}
}
