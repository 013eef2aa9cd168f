package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/test/lab"
)

// pluginDir is a directory plugins running as nobody can write to.
func pluginDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "vigil-plugins")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o777)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func sha(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestPluginsMoveAddresses: n1 runs nginx, probed by the built-in
// http-probe (a separate process, as nobody); a third-party file-check
// (pinned by SHA-256) also weighs on VI_1; a notifier journals every
// transition, and the built-in exec-notify writes n1's keepalived FIFO
// lines, priority changes included (notify_priority_changes). Killing
// nginx moves VI_1 to n2; nginx back moves it home; the maintenance file
// moves it again.
func TestPluginsMoveAddresses(t *testing.T) {
	lab.Require(t, "nginx")
	l := lab.New(t, 2)
	dir := pluginDir(t)
	flag := filepath.Join(dir, "in-service")
	os.WriteFile(flag, []byte("ok"), 0o644)
	journal := filepath.Join(dir, "events")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(fifo, 0o666) // past the umask: exec-notify runs as nobody
	fifoLines := readFIFO(t, fifo)
	s := site{version: 3, interval: "100ms"}
	base := s.pluginPolicy(t, l, 2, 1, `  plugin_user = "nobody"
  notify      = ["journal", "fifo"]
  notify_priority_changes = true`, []string{"web", "in-service"}, fmt.Sprintf(`
check "web" {
  plugin   = "http-probe"
  interval = "100ms"
  timeout  = "80ms"
  weight   = -50
  nodes    = ["n1"]

  config {
    url = "http://127.0.0.1:%d/"
  }
}

check "in-service" {
  plugin   = "file-check"
  interval = "1s"
  weight   = -50
  nodes    = ["n1"] # the namespaces share one filesystem

  config {
    path = %q
    poll = "20ms"
  }
}

notifier "journal" {
  plugin = "testplugin"

  config {
    journal = %q
  }
}

notifier "fifo" {
  plugin = "exec-notify"
  nodes  = ["n1"]

  config {
    fifo = %q
  }
}

plugin "file-check" {
  path   = %q
  sha256 = %q
}

plugin "testplugin" {
  path = %q
  args = ["notifier"]
}
`, probePort, flag, journal, fifo, fileCheckBin, sha(t, fileCheckBin), testPluginBin))

	nginx := l.Nodes[0].StartNginx(probePort)
	v1 := startVigil(t, l, l.Nodes[0], base)
	v2 := startVigil(t, l, l.Nodes[1], base)
	defer func() {
		if t.Failed() {
			t.Logf("n1:\n%s\nn2:\n%s", v1.Output(), v2.Output())
		}
	}()
	vip := s.vipOf(0)
	waitOwner(t, l, vip, "n1", 5*time.Second)

	// nginx dies: the probe fails, n1 drops to 50, below n2's 60.
	nginx.KillTree()
	waitOwner(t, l, vip, "n2", 5*time.Second)
	if !strings.Contains(v1.Output(), "check failed: node=n1 check=web") {
		t.Errorf("n1 did not log the failed check:\n%s", v1.Output())
	}
	// nginx back: n1 returns to 100 and preempts.
	l.Nodes[0].StartNginx(probePort)
	waitOwner(t, l, vip, "n1", 5*time.Second)
	// The maintenance flag goes: the third-party check pushes the failure.
	os.Remove(flag)
	waitOwner(t, l, vip, "n2", 5*time.Second)
	os.WriteFile(flag, []byte("ok"), 0o644)
	waitOwner(t, l, vip, "n1", 5*time.Second)

	// Every transition of n1 reached the notifier, in order.
	lab.WaitFor(t, 3*time.Second, "notifier journal", func() bool {
		b, _ := os.ReadFile(journal)
		return strings.Count(string(b), "\n") >= 8 // n1: BACKUP, MASTER, then 3 moves away and back (x2 nodes)
	})
	b, _ := os.ReadFile(journal)
	t.Logf("journal:\n%s", b)
	for _, want := range []string{"INIT->BACKUP", "BACKUP->MASTER", "MASTER->BACKUP"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("journal lacks %s", want)
		}
	}
	st := v1.status(t, "VI_1")
	if st.State != "MASTER" {
		t.Errorf("n1 ended %s", st.State)
	}
	// n1's FIFO: its states and, in the state each happened in, its
	// priority changes (nginx dies while master, comes back while backup).
	wantFIFO := []string{`INSTANCE "VI_1" BACKUP 100`, `INSTANCE "VI_1" MASTER 100`, `INSTANCE "VI_1" MASTER_PRIORITY 50`,
		`INSTANCE "VI_1" BACKUP 50`, `INSTANCE "VI_1" BACKUP_PRIORITY 100`, `INSTANCE "VI_1" MASTER 100`}
	var got []string
	for len(got) < len(wantFIFO) {
		select {
		case line := <-fifoLines:
			got = append(got, line)
		case <-time.After(3 * time.Second):
			t.Fatalf("FIFO lines %q, want them to start %q", got, wantFIFO)
		}
	}
	if !slices.Equal(got, wantFIFO) {
		t.Errorf("FIFO lines %q, want %q", got, wantFIFO)
	}
}

// readFIFO reads lines from the FIFO at path until the test ends; the
// reader holds it open for writing too, so writers never find it closed.
func readFIFO(t *testing.T, path string) <-chan string {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody reads: drop, never block
			}
		}
	}()
	return lines
}

// pluginPID is the pid of the agent's child running binary, or 0.
func pluginPID(agent int, binary string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		f := lab.ProcStat(e.Name())
		if len(f) < 2 || f[0] == "Z" || f[1] != fmt.Sprint(agent) {
			continue
		}
		if cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); strings.HasPrefix(string(cmd), binary+"\x00") {
			var pid int
			fmt.Sscan(e.Name(), &pid)
			return pid
		}
	}
	return 0
}

// TestPluginKilled50Times: a check plugin is SIGKILLed 50 times in a row
// while the agent polls it every 100ms and listens to its pushes. The
// agent stays up; every restart waits out the backoff; while the plugin is
// down the check counts as failed and its weight applies; when the kills
// stop, the priority recovers and the instance stays MASTER.
func TestPluginKilled50Times(t *testing.T) {
	l := lab.New(t, 1)
	flag := inServiceFlag(t)
	s := site{version: 3, interval: "100ms"}
	base := s.pluginPolicy(t, l, 1, 1, `  plugin_user        = "nobody"
  plugin_restart_max = "200ms"`, []string{"in-service"}, fmt.Sprintf(`
check "in-service" {
  plugin   = "file-check"
  interval = "100ms"
  weight   = -50

  config {
    path = %q
  }
}

plugin "file-check" {
  path = %q
}
`, flag, fileCheckBin))
	v := startVigil(t, l, l.Nodes[0], base)
	defer func() {
		if t.Failed() {
			t.Log(v.Output())
		}
	}()
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	agent := v.Cmd.Process.Pid
	priority := func() int {
		st, err := api.Fetch(v.socket)
		if err != nil || len(st.Instances) == 0 {
			return -1
		}
		return int(st.Instances[0].Priority)
	}
	lab.WaitFor(t, 5*time.Second, "the check plugin", func() bool { return pluginPID(agent, fileCheckBin) > 0 })
	sawWeight := false
	var shortest time.Duration = time.Hour
	start := time.Now()
	for kill := 1; kill <= 50; kill++ {
		// Kill a plugin that is serving: the previous restart completed.
		pid := pluginPID(agent, fileCheckBin)
		if pid == 0 {
			t.Fatalf("no plugin process before kill %d", kill)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		killed := time.Now()
		lab.WaitFor(t, 5*time.Second, fmt.Sprintf("restart %d logged", kill), func() bool {
			if priority() == 50 {
				sawWeight = true
			}
			return v.Count("plugin restarted") >= kill
		})
		shortest = min(shortest, time.Since(killed))
		if !v.Running() {
			t.Fatalf("agent exited after kill %d", kill)
		}
	}
	t.Logf("50 kills and restarts in %v; shortest kill-to-restart %v", time.Since(start).Round(time.Millisecond), shortest.Round(time.Millisecond))
	if shortest < 90*time.Millisecond {
		t.Errorf("a restart came %v after its kill; the backoff starts at 100ms", shortest)
	}
	if !sawWeight {
		t.Errorf("priority never showed the failed check's weight (50) while the plugin was down")
	}
	lab.WaitFor(t, 5*time.Second, "priority back to 100", func() bool { return priority() == 100 })
	if st := v.status(t, "VI_1"); st.State != "MASTER" {
		t.Errorf("VI_1 ended %s", st.State)
	}
	if n := v.Count("plugin restarted"); n < 50 {
		t.Errorf("%d restarts logged, want at least 50", n)
	}
}

// pluginPIDs are the pids of every live child of the agent: its plugins.
func pluginPIDs(agent int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if f := lab.ProcStat(e.Name()); len(f) >= 2 && f[0] != "Z" && f[1] == fmt.Sprint(agent) {
			var pid int
			fmt.Sscan(e.Name(), &pid)
			out = append(out, pid)
		}
	}
	return out
}

// TestAllPluginsKilledDuringATransition: as a check failure moves n1 to
// FAULT, every plugin process of n1 is SIGKILLed. No notification is
// lost (n1's transitions arrive in order, once), and when the check
// passes again n1 leaves FAULT and takes its address back.
func TestAllPluginsKilledDuringATransition(t *testing.T) {
	l := lab.New(t, 2)
	dir := pluginDir(t)
	flag := filepath.Join(dir, "in-service")
	os.WriteFile(flag, []byte("ok"), 0o644)
	journal := filepath.Join(dir, "events")
	s := site{version: 3, interval: "100ms"}
	pol := s.pluginPolicy(t, l, 2, 1, `  plugin_user = "nobody"
  notify      = ["journal"]`, []string{"in-service"}, fmt.Sprintf(`
check "in-service" {
  plugin   = "file-check"
  interval = "200ms"
  weight   = 0
  nodes    = ["n1"]

  config {
    path = %q
    poll = "20ms"
  }
}

notifier "journal" {
  plugin = "testplugin"

  config {
    journal = %q
  }
}

plugin "file-check" {
  path = %q
}

plugin "testplugin" {
  path = %q
  args = ["notifier"]
}
`, flag, journal, fileCheckBin, testPluginBin))
	v1 := startVigil(t, l, l.Nodes[0], pol)
	startVigil(t, l, l.Nodes[1], pol)
	vip := s.vipOf(0)
	waitOwner(t, l, vip, "n1", 5*time.Second)
	lab.WaitFor(t, 5*time.Second, "both plugins of n1", func() bool { return len(pluginPIDs(v1.Cmd.Process.Pid)) == 2 })

	os.Remove(flag)
	for _, pid := range pluginPIDs(v1.Cmd.Process.Pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	waitOwner(t, l, vip, "n2", 5*time.Second)
	lab.WaitFor(t, 5*time.Second, "n1 in FAULT", func() bool { return v1.state("VI_1") == "FAULT" })
	os.WriteFile(flag, []byte("ok"), 0o644)
	waitOwner(t, l, vip, "n1", 10*time.Second)
	if !v1.Running() {
		t.Fatalf("n1's agent died:\n%s", v1.Output())
	}
	// n1's transitions, in order, once each; n2's may interleave.
	want := []string{"INIT->BACKUP", "BACKUP->MASTER", "MASTER->FAULT", "FAULT->BACKUP", "BACKUP->MASTER"}
	var got []string
	lab.WaitFor(t, 10*time.Second, "n1's five transitions journalled", func() bool {
		b, _ := os.ReadFile(journal)
		got = nil
		for _, line := range strings.Split(string(b), "\n") {
			// "SEQ VI_1 FROM->TO reason [vips] node=n1"; n2 shares the file.
			if f := strings.Fields(line); len(f) >= 3 && strings.HasSuffix(line, " node=n1") {
				got = append(got, f[2])
			}
		}
		return len(got) >= len(want)
	})
	if strings.Join(got, " ") != strings.Join(want, " ") {
		b, _ := os.ReadFile(journal)
		t.Errorf("n1's notifications %v, want %v once each, in order\njournal:\n%s", got, want, b)
	}
}
