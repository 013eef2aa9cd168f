package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/test/lab"
)

// capNetAdminRaw is CapEff with only CAP_NET_ADMIN (12) and CAP_NET_RAW (13).
const capNetAdminRaw = "0000000000003000"

// procStatus returns the named fields of /proc/PID/status.
func procStatus(pid int, fields ...string) map[string]string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		for _, f := range fields {
			if ok && k == f {
				out[f] = strings.Join(strings.Fields(v), " ")
			}
		}
	}
	return out
}

// TestAgentAsItsOwnUser: the agent runs as an unprivileged user with only
// CAP_NET_ADMIN and CAP_NET_RAW as ambient capabilities (the hardened
// unit's mode): it takes over and serves its VIP, runs a built-in and a
// third-party check as that same user without needing to change identity,
// reacts to a failing check, and removes its VIP on SIGTERM. A policy
// asking for a root plugin is refused with the reason.
func TestAgentAsItsOwnUser(t *testing.T) {
	lab.Require(t, "setpriv")
	l := lab.New(t, 1)
	n := l.Nodes[0]
	n.ServeHTTP(probePort, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	// The lab's own directory is root's alone: this agent's files live
	// where its user can reach them.
	dir := pluginDir(t)
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chown(state, 65534, 65534)
	flag := filepath.Join(dir, "in-service")
	os.WriteFile(flag, []byte("ok"), 0o644)
	s := site{version: 3, interval: "100ms"}
	extra := fmt.Sprintf(`
check "web" {
  plugin   = "http-probe"
  interval = "200ms"
  weight   = -10
  config {
    url = "http://127.0.0.1:%d/"
  }
}

check "in-service" {
  plugin   = "file-check"
  interval = "1s"
  weight   = -50
  config {
    path = %q
    poll = "20ms"
  }
}

plugin "file-check" {
  path   = %q
  sha256 = %q
}
`, probePort, flag, fileCheckBin, sha(t, fileCheckBin))
	labPol := s.pluginPolicy(t, l, 1, 1, `  plugin_user = "nobody"`, []string{"web", "in-service"}, extra)
	src, err := os.ReadFile(labPol)
	if err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "site.hcl")
	os.WriteFile(pol, src, 0o644)
	sock := filepath.Join(state, "vigil.sock")
	unprivileged := func(policy string) *lab.Proc {
		return n.Start("vigil", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps=-all,+net_admin,+net_raw", "--ambient-caps=-all,+net_admin,+net_raw", "--bounding-set=-all,+net_admin,+net_raw",
			vigilBin, "agent", "--policy", policy, "--node", n.Name, "--state-dir", state, "--socket", sock, "--log-level", "debug")
	}
	v := unprivileged(pol)
	defer func() {
		if t.Failed() {
			t.Logf("agent:\n%s", v.Output())
		}
	}()
	vip := s.vipOf(0)
	waitOwner(t, l, vip, "n1", 10*time.Second)
	pid := v.Cmd.Process.Pid
	if st := procStatus(pid, "Uid", "CapEff"); st["Uid"] != "65534 65534 65534 65534" || st["CapEff"] != capNetAdminRaw {
		t.Errorf("agent runs with %v, want uid 65534 and only CAP_NET_ADMIN and CAP_NET_RAW", st)
	}
	lab.WaitFor(t, 10*time.Second, "two plugin processes (the built-ins' and file-check's)", func() bool { return len(pluginPIDs(pid)) == 2 })
	for _, p := range pluginPIDs(pid) {
		if st := procStatus(p, "Uid", "CapEff"); st["Uid"] != "65534 65534 65534 65534" || st["CapEff"] != "0000000000000000" {
			t.Errorf("plugin %d runs with %v, want uid 65534 and no capability", p, st)
		}
	}

	// The check fails: its weight applies (one node: the address stays).
	os.Remove(flag)
	lab.WaitFor(t, 5*time.Second, "priority 50 after the failing check", func() bool {
		st, err := api.Fetch(sock)
		return err == nil && len(st.Instances) == 1 && st.Instances[0].Priority == 50
	})

	v.Cmd.Process.Signal(syscall.SIGTERM)
	lab.WaitFor(t, 5*time.Second, "the agent to exit", func() bool { return !v.Running() })
	if n.HasAddr(vip) {
		t.Error("the VIP stayed after SIGTERM")
	}

	// A root plugin cannot be honoured by an agent that is not root.
	rootPol := filepath.Join(dir, "root-plugin.hcl")
	os.WriteFile(rootPol, []byte(strings.Replace(string(src), `plugin_user = "nobody"`, `plugin_user = "root"`, 1)), 0o644)
	r := unprivileged(rootPol)
	lab.WaitFor(t, 10*time.Second, "the agent to refuse a root plugin", func() bool { return !r.Running() })
	if !strings.Contains(r.Output(), "cannot start plugins as root") {
		t.Errorf("no reason given:\n%s", r.Output())
	}
	if n.HasAddr(vip) {
		t.Error("an agent that refused its policy left the VIP")
	}
}
