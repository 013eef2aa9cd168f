package nginxaction_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/plugins/nginxaction"
	"github.com/vigil-ha/vigil/sdk"
)

func configured(t *testing.T, cfg map[string]any) *nginxaction.Action {
	t.Helper()
	a := nginxaction.New().(*nginxaction.Action)
	if err := a.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return a
}

// killFromPIDFile stops a fake master the test's start command left behind.
func killFromPIDFile(t *testing.T, path string) {
	t.Cleanup(func() {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

func TestRestartOrYield(t *testing.T) {
	dir := t.TempDir()
	title := fmt.Sprintf("nginx: master process action-%d", os.Getpid())
	pidFile := filepath.Join(dir, "nginx.pid")
	killFromPIDFile(t, pidFile)
	// A start command that daemonises a master, as nginx does.
	starts := fmt.Sprintf(`(exec -a %q sleep 60) >/dev/null 2>&1 & echo $! > %s`, title, pidFile)
	trig := sdk.Trigger{Check: "nginx", Node: "lb01", Instances: []string{"VI_1"}}
	cases := []struct {
		name    string
		cfg     map[string]any
		want    sdk.Outcome
		within  time.Duration
		message string
	}{
		{"start works: recovered", map[string]any{"start": []any{"/bin/bash", "-c", starts}, "pid_file": pidFile, "match": title, "wait": "5s"},
			sdk.Recovered, 2 * time.Second, "master process"},
		{"start fails: yield at once, with the command's words", map[string]any{"start": []any{"/bin/sh", "-c", "echo 'nginx: [emerg] unknown directive'; exit 1"}, "match": title + "-none", "wait": "5s"},
			sdk.Yield, time.Second, "[emerg] unknown directive"},
		{"start succeeds but no master: yield after wait", map[string]any{"start": []any{"/bin/true"}, "match": title + "-none", "wait": "300ms"},
			sdk.Yield, 2 * time.Second, "no nginx master process"},
		{"foreground start that never becomes a master: yield after wait", map[string]any{"start": []any{"/bin/sleep", "30"}, "match": title + "-none", "wait": "300ms"},
			sdk.Yield, 2 * time.Second, "no nginx master process"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			out, msg, err := configured(t, c.cfg).Run(context.Background(), trig)
			took := time.Since(start)
			if err != nil || out != c.want || !strings.Contains(msg, c.message) {
				t.Fatalf("Run = %v %q %v, want %v containing %q", out, msg, err, c.want, c.message)
			}
			if took > c.within {
				t.Errorf("took %v, want under %v", took, c.within)
			}
			t.Logf("%v in %v: %s", out, took.Round(time.Millisecond), msg)
		})
	}
	t.Run("master already back: recovered without starting", func(t *testing.T) {
		// The pid file from the first case still names a live fake master.
		out, msg, err := configured(t, map[string]any{"start": []any{"/bin/false"}, "pid_file": pidFile, "match": title}).Run(context.Background(), trig)
		if err != nil || out != sdk.Recovered || !strings.Contains(msg, "already running") {
			t.Fatalf("Run = %v %q %v", out, msg, err)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []map[string]any{{"start": []any{"/nonexistent/nginx"}}, {"wait": "-1s"}, {"restart": true}} {
		if err := nginxaction.New().Configure(context.Background(), cfg); err == nil {
			t.Errorf("Configure(%v) accepted", cfg)
		}
	}
}
