package pluginhost_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/pluginhost"
	"github.com/vigil-ha/vigil/sdk"
)

func sharedSpec(block, plugin string, kind sdk.Kind, config string) pluginhost.Spec {
	return pluginhost.Spec{Name: block, Plugin: plugin, Kind: kind, Path: testPlugin, Args: []string{"shared"},
		Builtin: true, Shared: true, Config: []byte(config), CallTimeout: 5 * time.Second}
}

// TestSharedProcess: blocks of one user share one process, each call
// reaches its own block's instance and config, a killed process comes
// back with every block configured again, and the last block to close
// ends the process.
func TestSharedProcess(t *testing.T) {
	ctx := context.Background()
	journal := filepath.Join(t.TempDir(), "journal")
	ok := launch(t, sharedSpec("ok", "tcheck", sdk.KindCheck, `{"mode":"ok"}`))
	fail := launch(t, sharedSpec("fail", "tcheck", sdk.KindCheck, `{"mode":"fail"}`))
	mail := launch(t, sharedSpec("mail", "tnotifier", sdk.KindNotifier, `{"journal":"`+journal+`"}`))
	pid := ok.Pid()
	if pid == 0 || fail.Pid() != pid || mail.Pid() != pid {
		t.Fatalf("pids %d %d %d: want one process", ok.Pid(), fail.Pid(), mail.Pid())
	}
	checks := func(when string) {
		t.Helper()
		if r, err := ok.Check(ctx, 0); err != nil || !r.Healthy {
			t.Errorf("%s: block ok: %+v %v", when, r, err)
		}
		if r, err := fail.Check(ctx, 0); err != nil || r.Healthy {
			t.Errorf("%s: block fail: %+v %v", when, r, err)
		}
		if err := mail.Notify(ctx, sdk.Event{Seq: 1, Instance: "VI_1", From: "BACKUP", To: "MASTER"}); err != nil {
			t.Errorf("%s: notifier: %v", when, err)
		}
	}
	checks("first start")

	// A wrong plugin name for the block is refused at launch, and the
	// others go on.
	if _, err := pluginhost.Launch(sharedSpec("bad", "nosuch", sdk.KindCheck, `{}`), hclog.NewNullLogger()); err == nil {
		t.Error("a block naming no plugin of the process was launched")
	}

	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := ok.Check(ctx, 0); err == nil && ok.Pid() != pid {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok.Pid() == pid || ok.Pid() == 0 || fail.Pid() != ok.Pid() {
		t.Fatalf("after the kill: pids %d %d (was %d)", ok.Pid(), fail.Pid(), pid)
	}
	checks("after a restart") // each block configured again on the new process
	if ok.Starts() != 2 {
		t.Errorf("%d starts, want 2", ok.Starts())
	}
	if b, _ := os.ReadFile(journal); strings.Count(string(b), "VI_1 BACKUP->MASTER") != 2 {
		t.Errorf("journal:\n%s", b)
	}

	pid = ok.Pid()
	fail.Close()
	if r, err := ok.Check(ctx, 0); err != nil || !r.Healthy || ok.Pid() != pid {
		t.Errorf("after another block closed: %+v %v, pid %d (was %d)", r, err, ok.Pid(), pid)
	}
	ok.Close()
	mail.Close()
	for i := 0; i < 100; i++ {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("process %d still runs after its last block closed", pid)
}

// TestSharedPerUser: blocks that run as different users never share.
func TestSharedPerUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a plugin as another user")
	}
	asRoot := launch(t, sharedSpec("a", "tcheck", sdk.KindCheck, `{}`))
	s := sharedSpec("b", "tcheck", sdk.KindCheck, `{}`)
	s.User = "nobody"
	asNobody := launch(t, s)
	if asRoot.Pid() == asNobody.Pid() {
		t.Fatalf("root's and nobody's blocks share process %d", asRoot.Pid())
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(asNobody.Pid()) + "/status")
	if err != nil || !strings.Contains(string(status), "Uid:\t65534") {
		t.Errorf("nobody's shared process: %v\n%s", err, status)
	}
}
