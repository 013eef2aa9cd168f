package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestStatusAndDump: `vigil status` shows VIPs, what each instance tracks
// and the checks with their plugin process; `vigil status --dump` prints
// the lines the agent logs on SIGUSR1; an unreachable socket says so
// without an internal URL.
func TestStatusAndDump(t *testing.T) {
	l := lab.New(t, 1)
	s := site{version: 3, interval: "100ms"}
	pol := s.pluginPolicy(t, l, 1, 1, `  plugin_user = "nobody"`, []string{"web"}, fmt.Sprintf(`
check "web" {
  plugin   = "testplugin"
  interval = "200ms"
  weight   = -10
  config {
    mode = "fail"
  }
}

plugin "testplugin" {
  path = %q
  args = ["check"]
}
`, testPluginBin))
	v := startVigil(t, l, l.Nodes[0], pol)
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	status := func(args ...string) string {
		out, err := exec.Command(vigilBin, append([]string{"status", "--socket", v.socket}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("vigil status %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	lab.WaitFor(t, 5*time.Second, "the failing check's weight", func() bool { return strings.Contains(status(), "90 (base 100)") })
	text := status()
	for _, want := range []string{s.vipOf(0).String() + "/24", "check web", "DOWN", "weight -10 when down", "FAILING", "testplugin"} {
		if !strings.Contains(text, want) {
			t.Errorf("vigil status lacks %q:\n%s", want, text)
		}
	}
	dump := status("--dump")
	for _, want := range []string{"state dump: site=lab node=n1", "VI_1: state=MASTER", "priority=90", "VI_1 tracks check web: state=down when_down=\"weight -10\"",
		"check web: state=failing plugin=testplugin", `message="failing on purpose"`} {
		if !strings.Contains(dump, want) {
			t.Errorf("vigil status --dump lacks %q:\n%s", want, dump)
		}
	}
	v.Cmd.Process.Signal(syscall.SIGUSR1)
	lab.WaitFor(t, 5*time.Second, "the state dump in the log", func() bool { return strings.Contains(v.Output(), "state dump: ") })
	for _, line := range strings.Split(dump, "\n")[1:] {
		if line != "" && !strings.Contains(v.Output(), line[:strings.Index(line, ":")+1]) {
			t.Errorf("the log's dump lacks %q:\n%s", line, v.Output())
		}
	}
	out, err := exec.Command(vigilBin, "status", "--socket", l.Dir+"/nobody-here.sock").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no agent at") || strings.Contains(string(out), "http://") {
		t.Errorf("unreachable socket: %v\n%s", err, out)
	}
}
