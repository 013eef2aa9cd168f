package nginxprocess_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/plugins/nginxprocess"
	"github.com/vigil-ha/vigil/sdk"
)

// fakeMaster runs a process titled like an nginx master (a unique title,
// so that a real nginx on the machine is never found instead).
func fakeMaster(t *testing.T, title string) *exec.Cmd {
	t.Helper()
	cmd := &exec.Cmd{Path: "/bin/sleep", Args: []string{title, "60"}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Until the child has exec'd, its command line is still the test's.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
		if strings.HasPrefix(string(b), title) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start", title)
		}
	}
	return cmd
}

func configured(t *testing.T, cfg map[string]any) *nginxprocess.Check {
	t.Helper()
	c := nginxprocess.New().(*nginxprocess.Check)
	if err := c.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFindsMasterByPIDFileOrCommandLine(t *testing.T) {
	title := fmt.Sprintf("nginx: master process test-%d", os.Getpid())
	m := fakeMaster(t, title)
	pidFile := filepath.Join(t.TempDir(), "nginx.pid")
	os.WriteFile(pidFile, []byte(strconv.Itoa(m.Process.Pid)+"\n"), 0o644)
	stale := filepath.Join(t.TempDir(), "stale.pid")
	os.WriteFile(stale, []byte(strconv.Itoa(os.Getpid())), 0o644) // a live pid that is not nginx
	cases := []struct {
		name    string
		cfg     map[string]any
		healthy bool
	}{
		{"pid file", map[string]any{"pid_file": pidFile, "match": title}, true},
		{"command line", map[string]any{"match": title}, true},
		{"no such pid file", map[string]any{"pid_file": pidFile + ".missing"}, false},
		{"stale pid file naming another process", map[string]any{"pid_file": stale, "match": title}, false},
		{"no process with that title", map[string]any{"match": title + "-other"}, false},
	}
	for _, c := range cases {
		r, err := configured(t, c.cfg).Check(context.Background())
		if err != nil || r.Healthy != c.healthy {
			t.Errorf("%s: %+v %v, want healthy=%v", c.name, r, err, c.healthy)
		}
	}
}

// TestWatchPushesExitAtOnce: the failure is pushed the moment the master
// exits (pidfd), and a new master is found by the re-scan.
func TestWatchPushesExitAtOnce(t *testing.T) {
	title := fmt.Sprintf("nginx: master process watch-%d", os.Getpid())
	m := fakeMaster(t, title)
	c := configured(t, map[string]any{"match": title, "rescan": "50ms"})
	results := make(chan sdk.Result, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, func(r sdk.Result) { results <- r }) }()
	next := func(what string) sdk.Result {
		t.Helper()
		select {
		case r := <-results:
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("no push: %s", what)
		}
		return sdk.Result{}
	}
	if r := next("first"); !r.Healthy {
		t.Fatalf("first push %+v, want healthy", r)
	}
	killed := time.Now()
	m.Process.Kill()
	m.Wait()
	r := next("exit")
	latency := time.Since(killed)
	if r.Healthy {
		t.Fatalf("after kill: %+v", r)
	}
	t.Logf("exit pushed %v after the kill: %s", latency, r.Message)
	if latency > 100*time.Millisecond {
		t.Errorf("exit pushed after %v; a pidfd should make it immediate", latency)
	}
	fakeMaster(t, title)
	if r := next("restart"); !r.Healthy {
		t.Fatalf("after restart: %+v", r)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []map[string]any{{"rescan": "1ms"}, {"rescan": "soon"}, {"pidfile": "/run/nginx.pid"}} {
		if err := nginxprocess.New().Configure(context.Background(), cfg); err == nil {
			t.Errorf("Configure(%v) accepted", cfg)
		}
	}
}
