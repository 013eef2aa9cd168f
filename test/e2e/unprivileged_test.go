package e2e

import (
	"fmt"
	"maps"
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

// unitCaps are the capabilities the packaged unit grants (AmbientCapabilities).
const unitCaps = "+net_admin,+net_raw,+setuid,+setgid"

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

// TestAgentAsItsOwnUser: the agent runs as the packaged unit runs it, an
// unprivileged user (here nobody) in the plugin user's group, with the
// unit's capabilities as ambient ones; it keeps only CAP_NET_ADMIN and
// CAP_NET_RAW effective and nothing inheritable or ambient. It takes over
// and serves its VIP, runs a built-in and two third-party checks as the
// plugin user (vigil-plugin, never its own) with no capability at all,
// reacts to a failing check, and removes its VIP on SIGTERM. One of the
// checks is hostile: every way a plugin could steer the agent (forge its
// recovery records, replace its socket, read its policy, signal it, read
// or call a sibling plugin process) fails, and the agent, its records and
// its VIP are untouched. A policy asking for a root plugin, or for
// plugins as the agent's own user, is refused with the reason.
func TestAgentAsItsOwnUser(t *testing.T) {
	lab.Require(t, "setpriv")
	pluginUID, pluginGID := lab.EnsurePluginUser(t)
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
	sock := filepath.Join(state, "vigil.sock")
	pol := filepath.Join(dir, "site.hcl")
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

check "hostile" {
  plugin   = "testplugin"
  interval = "1s"
  timeout  = "900ms"
  weight   = -1
  config {
    mode   = "hostile"
    state  = %q
    socket = %q
    policy = %q
  }
}

# A third-party check that hangs: killed at its timeout and started
# again, although it runs as another user and the agent has no CAP_KILL.
check "stuck" {
  plugin   = "testplugin"
  interval = "500ms"
  timeout  = "200ms"
  weight   = -1
  config {
    mode = "hang"
  }
}

plugin "file-check" {
  path   = %q
  sha256 = %q
}

plugin "testplugin" {
  path   = %q
  sha256 = %q
  args   = ["check"]
}
`, probePort, flag, state, sock, pol, fileCheckBin, sha(t, fileCheckBin), testPluginBin, sha(t, testPluginBin))
	labPol := s.pluginPolicy(t, l, 1, 1, "  plugin_user = \"vigil-plugin\"\n  status_group = \"daemon\"", []string{"web", "in-service", "hostile", "stuck"}, extra)
	src, err := os.ReadFile(labPol)
	if err != nil {
		t.Fatal(err)
	}
	// As packaged: root's, readable by the agent's group, not by plugins.
	writePolicy := func(path string, src []byte) {
		os.WriteFile(path, src, 0o640)
		os.Chown(path, 0, 65534)
	}
	writePolicy(pol, src)
	unprivileged := func(policy string) *lab.Proc {
		return n.Start("vigil", "setpriv", "--reuid=65534", "--regid=65534", "--groups="+strconv.Itoa(pluginGID),
			"--inh-caps=-all,"+unitCaps, "--ambient-caps=-all,"+unitCaps, "--bounding-set=-all,"+unitCaps,
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
	defer syscall.Kill(pid, syscall.SIGCONT) // should the hostile plugin stop it
	want := map[string]string{"Uid": "65534 65534 65534 65534", "CapEff": capNetAdminRaw, "CapInh": "0000000000000000", "CapAmb": "0000000000000000"}
	if st := procStatus(pid, "Uid", "CapEff", "CapInh", "CapAmb"); !maps.Equal(st, want) {
		t.Errorf("agent runs with %v, want %v", st, want)
	}
	lab.WaitFor(t, 10*time.Second, "four plugin processes (the built-ins', file-check's, two testplugins)", func() bool { return len(pluginPIDs(pid)) == 4 })
	// status_group: the socket is the group's, made without CAP_CHOWN.
	if fi, err := os.Stat(sock); err != nil || fi.Sys().(*syscall.Stat_t).Gid != 1 || fi.Mode().Perm() != 0o660 {
		t.Errorf("status socket: %v, want group daemon (1), mode 0660", err)
	}
	uid := strconv.Itoa(pluginUID)
	none := "0000000000000000"
	for _, p := range pluginPIDs(pid) {
		want := map[string]string{"Uid": strings.Repeat(uid+" ", 3) + uid, "CapEff": none, "CapPrm": none, "CapInh": none, "CapAmb": none}
		if st := procStatus(p, "Uid", "CapEff", "CapPrm", "CapInh", "CapAmb"); !maps.Equal(st, want) {
			t.Errorf("plugin %d runs with %v, want the plugin user %s and no capability", p, st, uid)
		}
	}

	// The hostile check has run a few times by now, the last ones
	// against siblings that have settled (2 s); it reports what worked,
	// and nothing may have.
	time.Sleep(3 * time.Second)
	st, err := api.Fetch(sock)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	ran := false
	for _, c := range st.Checks {
		if c.Name == "hostile" {
			ran = c.LastDuration > 0
			if c.Failing {
				t.Errorf("a plugin steered the agent: %s %s", c.Message, c.LastError)
			}
		}
	}
	if !ran {
		t.Error("the hostile check has not run")
	}
	if !v.Running() || procStatus(pid, "State")["State"] == "T (stopped)" || !n.HasAddr(vip) {
		t.Errorf("after the hostile plugin: agent running %v (%s), VIP held %v", v.Running(), procStatus(pid, "State")["State"], n.HasAddr(vip))
	}
	if b, _ := os.ReadFile(filepath.Join(state, "vips.json")); strings.Contains(string(b), "192.0.2.1/") {
		t.Errorf("the VIP record was forged: %s", b)
	}

	// The check fails: its weight applies (one node: the address stays).
	os.Remove(flag)
	// The stuck check was killed at its timeout and started again.
	lab.WaitFor(t, 10*time.Second, "the stuck check's plugin restarted", func() bool {
		st, err := api.Fetch(sock)
		if err != nil {
			return false
		}
		for _, c := range st.Checks {
			if c.Name == "stuck" {
				return c.Restarts >= 1
			}
		}
		return false
	})
	lab.WaitFor(t, 5*time.Second, "priority 49 after the failing checks", func() bool {
		st, err := api.Fetch(sock)
		return err == nil && len(st.Instances) == 1 && st.Instances[0].Priority == 49
	})

	v.Cmd.Process.Signal(syscall.SIGTERM)
	lab.WaitFor(t, 5*time.Second, "the agent to exit", func() bool { return !v.Running() })
	if n.HasAddr(vip) {
		t.Error("the VIP stayed after SIGTERM")
	}

	// A root plugin cannot be honoured by an agent that is not root, and
	// a plugin as the agent's own user is refused.
	for user, reason := range map[string]string{"root": "cannot start plugins as root", "nobody": "is the agent's own user"} {
		p := filepath.Join(dir, user+"-plugin.hcl")
		writePolicy(p, []byte(strings.Replace(string(src), `plugin_user = "vigil-plugin"`, `plugin_user = "`+user+`"`, 1)))
		r := unprivileged(p)
		lab.WaitFor(t, 10*time.Second, "the agent to refuse plugins as "+user, func() bool { return !r.Running() })
		if !strings.Contains(r.Output(), reason) {
			t.Errorf("plugins as %s: no reason given:\n%s", user, r.Output())
		}
		if n.HasAddr(vip) {
			t.Errorf("an agent that refused plugins as %s left the VIP", user)
		}
	}
}
