package nginxaction_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/sdk"
)

// realNginx writes a minimal nginx configuration under dir/name and returns
// the command that runs it in the foreground, and its pid file.
func realNginx(t *testing.T, dir, name string) ([]string, string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx is missing (CI installs nginx-light)")
		}
		t.Skip("skipped: nginx is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: a PID namespace needs root")
	}
	prefix := filepath.Join(dir, name)
	os.MkdirAll(filepath.Join(prefix, "logs"), 0o755)
	pid := filepath.Join(prefix, "nginx.pid")
	conf := fmt.Sprintf("pid %s;\nerror_log %s/logs/error.log;\nevents {}\nhttp {\n access_log off;\n client_body_temp_path %[2]s;\n proxy_temp_path %[2]s;\n fastcgi_temp_path %[2]s;\n uwsgi_temp_path %[2]s;\n scgi_temp_path %[2]s;\n}\n", pid, prefix)
	os.WriteFile(filepath.Join(prefix, "nginx.conf"), []byte(conf), 0o644)
	return []string{bin, "-p", prefix, "-c", filepath.Join(prefix, "nginx.conf")}, pid
}

func waitPID(t *testing.T, pidFile string) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return pid
			}
		}
	}
	t.Fatalf("%s: nginx did not start", pidFile)
	return 0
}

// Two nginx masters on one host, one of them in a container's PID
// namespace: the action sees only its node's own. The container's master
// used to be taken for this node's and the action reported "recovered"
// while this node's nginx was dead.
func TestOnlyThisNamespacesMaster(t *testing.T) {
	dir := t.TempDir()
	other, _ := realNginx(t, dir, "container")
	mine, minePID := realNginx(t, dir, "node")
	// The container: nginx in a PID namespace of its own.
	c := exec.Command("unshare", append([]string{"--pid", "--fork", "--kill-child"}, append(other, "-g", "daemon off;")...)...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// SIGKILL: unshare stays for a SIGTERM; --kill-child takes the
	// namespace's init (nginx) with it.
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	match := "nginx: master process " + other[0] + " -p " + dir
	// Wait until the container's master is titled.
	seen := false
	for deadline := time.Now().Add(5 * time.Second); !seen && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		out, _ := exec.Command("pgrep", "-f", "^"+match).Output()
		seen = len(strings.TrimSpace(string(out))) > 0
	}
	if !seen {
		t.Fatal("the container's nginx did not start")
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(minePID); err == nil {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			syscall.Kill(pid, syscall.SIGTERM) // nginx takes its workers down
			for range 200 {
				if syscall.Kill(pid, 0) != nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
	// This node's nginx is down; the action must start it, not settle for
	// the container's.
	a := configured(t, map[string]any{"start": mine, "match": match, "wait": "5s"})
	out, msg, err := a.Run(t.Context(), sdk.Trigger{Check: "nginx"})
	if err != nil || out != sdk.Recovered {
		t.Fatalf("%v %q %v", out, msg, err)
	}
	pid := waitPID(t, minePID)
	if !strings.Contains(msg, "started nginx") || !strings.Contains(msg, strconv.Itoa(pid)) {
		t.Errorf("outcome %q: want this node's nginx started (master %d)", msg, pid)
	}
	// Another PID namespace is found only when asked for.
	any := configured(t, map[string]any{"start": []string{"/bin/false"}, "match": match + "/container", "any_pid_namespace": true})
	if out, msg, _ := any.Run(t.Context(), sdk.Trigger{Check: "nginx"}); out != sdk.Recovered || !strings.Contains(msg, "already running") {
		t.Errorf("any_pid_namespace: %v %q", out, msg)
	}
}

// An action without pid_file or match looks for the master its check
// watches (the check's pid_file), not any nginx.
func TestActionInheritsItsChecksFinder(t *testing.T) {
	dir := t.TempDir()
	mine, minePID := realNginx(t, dir, "node")
	c := exec.Command(mine[0], append(mine[1:], "-g", "daemon off;")...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Signal(syscall.SIGTERM); c.Wait() })
	pid := waitPID(t, minePID)
	a := configured(t, map[string]any{"start": []string{"/bin/false"}})
	out, msg, _ := a.Run(t.Context(), sdk.Trigger{Check: "nginx", CheckConfig: map[string]any{"pid_file": minePID}})
	if out != sdk.Recovered || !strings.Contains(msg, fmt.Sprintf("process %d is already running", pid)) {
		t.Errorf("with the check's pid_file: %v %q, want master %d already running", out, msg, pid)
	}
	// The check's pid file names a dead master: the action must not be
	// satisfied by this (or any other) running nginx.
	stale := filepath.Join(dir, "stale.pid")
	os.WriteFile(stale, []byte("999999\n"), 0o644)
	if out, msg, _ := a.Run(t.Context(), sdk.Trigger{Check: "nginx", CheckConfig: map[string]any{"pid_file": stale}}); out != sdk.Yield {
		t.Errorf("with a dead master's pid file: %v %q, want yield (start fails)", out, msg)
	}
}
