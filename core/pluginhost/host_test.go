package pluginhost_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
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

var testPlugin, fileCheck string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pluginhost")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // plugins run as nobody in TestRunsAsUser
	testPlugin, fileCheck = filepath.Join(dir, "testplugin"), filepath.Join(dir, "file-check")
	for _, b := range []struct{ out, dir, pkg string }{
		{testPlugin, ".", "./testdata/testplugin"},
		// The third-party example is its own module, importing only the sdk.
		{fileCheck, "../../sdk/examples/file-check", "."},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Stderr.Write(out)
			panic(err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func launchB(b *testing.B) *pluginhost.Plugin {
	p, err := pluginhost.Launch(checkSpec("ok"), hclog.NewNullLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

func launch(t *testing.T, spec pluginhost.Spec) *pluginhost.Plugin {
	t.Helper()
	p, err := pluginhost.Launch(spec, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func checkSpec(mode string) pluginhost.Spec {
	return pluginhost.Spec{Name: "t", Plugin: "testplugin", Kind: sdk.KindCheck, Path: testPlugin, Args: []string{"check"},
		Config: []byte(`{"mode":"` + mode + `"}`), CallTimeout: 5 * time.Second}
}

// TestRoundTrip calls each interface over real go-plugin processes.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	ok := launch(t, checkSpec("ok"))
	if r, err := ok.Check(ctx, 0); err != nil || !r.Healthy || r.Message != "fine" {
		t.Errorf("check: %+v %v", r, err)
	}
	fail := launch(t, checkSpec("fail"))
	if r, err := fail.Check(ctx, 0); err != nil || r.Healthy {
		t.Errorf("failing check: %+v %v", r, err)
	}

	journal := filepath.Join(t.TempDir(), "events")
	n := launch(t, pluginhost.Spec{Name: "mail", Plugin: "testplugin", Kind: sdk.KindNotifier, Path: testPlugin, Args: []string{"notifier"},
		Config: []byte(`{"journal":"` + journal + `"}`)})
	ev := sdk.Event{Seq: 7, Instance: "VI_1", Node: "lb01", From: "BACKUP", To: "MASTER", Reason: "master down timer expired", Time: time.Now(), VIPs: []string{"192.0.2.24/24"}}
	if err := n.Notify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(journal); string(b) != "7 VI_1 BACKUP->MASTER master down timer expired [192.0.2.24/24] node=lb01\n" {
		t.Errorf("notifier journal %q", b)
	}

	for mode, want := range map[string]sdk.Outcome{"recovered": sdk.Recovered, "yield": sdk.Yield} {
		a := launch(t, pluginhost.Spec{Name: "recover", Plugin: "testplugin", Kind: sdk.KindAction, Path: testPlugin, Args: []string{"action"},
			Config: []byte(`{"mode":"` + mode + `"}`)})
		out, msg, err := a.Run(ctx, sdk.Trigger{Check: "nginx", Instances: []string{"VI_1"}})
		if err != nil || out != want || !strings.Contains(msg, "nginx") {
			t.Errorf("action %s: %v %q %v", mode, out, msg, err)
		}
	}
}

// TestThirdPartyExample loads sdk/examples/file-check, built in its own
// module, and follows a file appearing and disappearing through Watch.
func TestThirdPartyExample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthy")
	p := launch(t, pluginhost.Spec{Name: "maint", Plugin: "file-check", Kind: sdk.KindCheck, Path: fileCheck,
		Config: []byte(`{"path":"` + path + `","poll":"10ms"}`)})
	if r, err := p.Check(context.Background(), 0); err != nil || r.Healthy {
		t.Fatalf("no file yet: %+v %v", r, err)
	}
	if !p.CanWatch() {
		t.Fatal("file-check pushes results but the host does not know")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan sdk.Result, 8)
	go p.Watch(ctx, func(r sdk.Result) { got <- r })
	next := func() sdk.Result {
		select {
		case r := <-got:
			return r
		case <-time.After(3 * time.Second):
			t.Fatal("no pushed result")
		}
		return sdk.Result{}
	}
	if r := next(); r.Healthy {
		t.Fatalf("first push %+v", r)
	}
	os.WriteFile(path, []byte("ok"), 0o644)
	if r := next(); !r.Healthy {
		t.Fatalf("after creating the file: %+v", r)
	}
	os.Remove(path)
	if r := next(); r.Healthy {
		t.Fatalf("after removing the file: %+v", r)
	}
}

func TestConfigRefused(t *testing.T) {
	_, err := pluginhost.Launch(checkSpec("refuse"), hclog.NewNullLogger())
	var ces sdk.ConfigErrors
	if !errors.As(err, &ces) || ces[0].Attribute != "mode" {
		t.Fatalf("got %v, want a config error about mode", err)
	}
	spec := checkSpec("ok")
	spec.Config = []byte(`{"mood":"ok"}`)
	if _, err := pluginhost.Launch(spec, hclog.NewNullLogger()); !errors.As(err, &ces) || ces[0].Attribute != "mood" {
		t.Fatalf("unknown attribute: got %v", err)
	}
}

func TestWrongIdentity(t *testing.T) {
	spec := checkSpec("ok")
	spec.Plugin = "nginx-process"
	_, err := pluginhost.Launch(spec, hclog.NewNullLogger())
	if err == nil || !strings.Contains(err.Error(), `is plugin "testplugin" of kind check, but the policy wants "nginx-process"`) {
		t.Fatalf("got %v", err)
	}
	spec = checkSpec("ok")
	spec.Kind = sdk.KindNotifier
	if _, err := pluginhost.Launch(spec, hclog.NewNullLogger()); err == nil {
		t.Fatal("a check plugin was accepted as a notifier")
	}
}

func TestChecksumMismatch(t *testing.T) {
	b, _ := os.ReadFile(testPlugin)
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	spec := checkSpec("ok")
	spec.SHA256 = good
	launch(t, spec)
	spec.SHA256 = strings.Repeat("0", 64)
	_, err := pluginhost.Launch(spec, hclog.NewNullLogger())
	if err == nil || !strings.Contains(err.Error(), testPlugin) || !strings.Contains(err.Error(), good) || !strings.Contains(err.Error(), spec.SHA256) {
		t.Fatalf("refusal must name the file and both digests: %v", err)
	}
}

func TestUnknownUser(t *testing.T) {
	spec := checkSpec("ok")
	spec.User = "vigil-no-such-user"
	if _, err := pluginhost.Launch(spec, hclog.NewNullLogger()); err == nil || !strings.Contains(err.Error(), "vigil-no-such-user") {
		t.Fatalf("got %v", err)
	}
}

func TestRunsAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: running a plugin as another user needs root")
	}
	spec := checkSpec("ok")
	spec.User = "nobody"
	p := launch(t, spec)
	status, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "Uid:\t65534\t") {
		t.Errorf("plugin is not running as nobody:\n%s", status)
	}
	if _, err := p.Check(context.Background(), 0); err != nil {
		t.Errorf("check as nobody: %v", err)
	}
	// With a group (keepalived's script_user USER GROUP): that gid.
	spec.Group = "daemon"
	g := launch(t, spec)
	status, _ = os.ReadFile("/proc/" + strconv.Itoa(g.Pid()) + "/status")
	if !strings.Contains(string(status), "Uid:\t65534\t") || !strings.Contains(string(status), "Gid:\t1\t") {
		t.Errorf("plugin is not running as nobody:daemon:\n%s", status)
	}
	if _, err := g.Check(context.Background(), 0); err != nil {
		t.Errorf("check as nobody:daemon: %v", err)
	}
}

// TestHungPlugin: a check that never answers times out at the check's
// timeout, is killed, and a fresh process serves the next call.
func TestHungPlugin(t *testing.T) {
	p := launch(t, checkSpec("hang"))
	start := time.Now()
	_, err := p.Check(context.Background(), 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("timeout took %v", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Starts() < 2 && time.Now().Before(deadline) {
		p.Check(context.Background(), 200*time.Millisecond)
		time.Sleep(50 * time.Millisecond)
	}
	if p.Starts() < 2 {
		t.Error("hung plugin was not restarted")
	}
}

// TestKilled50Times kills the plugin 50 times in a row while checks keep
// coming: every call returns (an error while it is down), restarts follow
// the backoff, and the plugin serves again at the end.
func TestKilled50Times(t *testing.T) {
	pluginhost.MinBackoff, pluginhost.MaxBackoff = 5*time.Millisecond, 80*time.Millisecond
	t.Cleanup(func() { pluginhost.MinBackoff, pluginhost.MaxBackoff = 100*time.Millisecond, 30*time.Second })
	p := launch(t, checkSpec("ok"))
	ctx := context.Background()
	start := time.Now()
	failures := 0
	for kill := 0; kill < 50; kill++ {
		pid := p.Pid()
		if pid == 0 {
			t.Fatalf("kill %d: no process", kill)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := p.Check(ctx, time.Second)
			if err == nil && p.Pid() != pid {
				break
			}
			failures++
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: plugin not back after 5s: %v", kill, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	if p.Starts() != 51 {
		t.Errorf("%d starts, want 51", p.Starts())
	}
	// Backoff doubles to its cap of 80ms; 50 restarts cannot take less
	// than the sum of the waits, nor (on this machine) much more.
	if elapsed < 50*40*time.Millisecond/2 {
		t.Errorf("50 restarts in %v: faster than the backoff allows", elapsed)
	}
	t.Logf("50 kills: %d failed calls, %v", failures, elapsed)
	if r, err := p.Check(ctx, 0); err != nil || !r.Healthy {
		t.Errorf("after 50 kills: %+v %v", r, err)
	}
}
