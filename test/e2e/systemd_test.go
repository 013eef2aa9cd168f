package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestSystemdNotify: the agent speaks systemd's notify protocol on a real
// $NOTIFY_SOCKET: READY=1 once its instances run, WATCHDOG=1 every half
// WatchdogSec, RELOADING=1 with the monotonic clock on SIGHUP and READY=1
// after it, STOPPING=1 on SIGTERM; under the journal (JOURNAL_STREAM) its
// lines carry no time of their own.
func TestSystemdNotify(t *testing.T) {
	l := lab.New(t, 1)
	sockPath := filepath.Join(l.Dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sockPath)
	t.Setenv("WATCHDOG_USEC", "400000")
	t.Setenv("JOURNAL_STREAM", "8:12345")
	s := site{version: 3, interval: "100ms"}
	v := startVigil(t, l, l.Nodes[0], s.policy(t, l, 1, 1))

	buf := make([]byte, 4096)
	// next returns the next message that is not a watchdog ping, counting
	// the pings on the way.
	pings := 0
	next := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf)
			if err != nil {
				break
			}
			msg := string(buf[:n])
			if msg == "WATCHDOG=1" {
				pings++
				continue
			}
			if !strings.HasPrefix(msg, want) {
				t.Fatalf("got %q, want %s", msg, want)
			}
			return msg
		}
		t.Fatalf("no %s from the agent", want)
		return ""
	}
	next("READY=1")
	time.Sleep(time.Second)
	v.Cmd.Process.Signal(syscall.SIGHUP)
	if msg := next("RELOADING=1"); !strings.Contains(msg, "\nMONOTONIC_USEC=") {
		t.Errorf("reload message %q has no MONOTONIC_USEC", msg)
	}
	next("READY=1")
	if pings < 3 {
		t.Errorf("%d watchdog pings in over a second at WatchdogSec=400ms", pings)
	}
	v.Cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1")
	lab.WaitFor(t, 5*time.Second, "the agent to exit", func() bool { return !v.Running() })
	out := v.Output()
	first := strings.SplitN(out, "\n", 2)[0]
	if !strings.HasPrefix(first, "[INFO]") {
		t.Errorf("under the journal a line starts with its own time: %q", first)
	}
	_ = os.Remove(sockPath)
}
