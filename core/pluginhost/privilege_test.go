package pluginhost_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/pluginhost"
	"github.com/vigil-ha/vigil/test/logbuf"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: dropping a plugin to another user needs root")
	}
}

// A plugin run as nobody has nobody's gid and no supplementary group, only
// the environment allow-list (plus what pass_env names), and /dev/null as
// stdin.
func TestPluginGetsOnlyWhatItNeeds(t *testing.T) {
	needRoot(t)
	t.Setenv("VIGIL_TEST_SECRET", "do-not-pass")
	t.Setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
	t.Setenv("LC_TIME", "C")
	spec := checkSpec("report")
	spec.User, spec.PassEnv = "nobody", []string{"HTTPS_PROXY"}
	p := launch(t, spec)
	r, err := p.Check(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Env                []string
		Groups, Gid, Stdin string
		Caps               map[string]string
		Dumpable           int
	}
	if err := json.Unmarshal([]byte(r.Message), &got); err != nil {
		t.Fatalf("%v: %s", err, r.Message)
	}
	if got.Groups != "" {
		t.Errorf("plugin keeps supplementary groups %q", got.Groups)
	}
	if got.Gid != "65534" {
		t.Errorf("plugin gid %s, want nobody's 65534", got.Gid)
	}
	for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
		if got.Caps[set] != "0000000000000000" {
			t.Errorf("plugin has %s %s, want none", set, got.Caps[set])
		}
	}
	if got.Dumpable != 0 {
		t.Error("plugin is dumpable: another process of its user could read its memory")
	}
	if got.Stdin != os.DevNull {
		t.Errorf("plugin stdin is %q, want /dev/null", got.Stdin)
	}
	keys := map[string]bool{}
	for _, k := range got.Env {
		keys[k] = true
		allowed := k == "PATH" || k == "LANG" || k == "LANGUAGE" || k == "TZ" || k == "HTTPS_PROXY" ||
			strings.HasPrefix(k, "LC_") || strings.HasPrefix(k, "PLUGIN_") || k == "VIGIL_PLUGIN"
		if !allowed {
			t.Errorf("plugin got %s from the agent's environment", k)
		}
	}
	for _, want := range []string{"PATH", "HTTPS_PROXY", "LC_TIME"} {
		if !keys[want] {
			t.Errorf("plugin did not get %s: %v", want, got.Env)
		}
	}
}

// The binary that runs is the one that was checked: a file swapped in
// after the check (here, another plugin) never runs.
func TestPinnedBinaryCannotBeSwapped(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "plugin")
	copyFile(t, testPlugin, bin)
	sum := sha256.Sum256(readFile(t, testPlugin))
	defer pluginhost.SetAfterVerify(func(path string) {
		// Replace the path's file the way an attacker with write access
		// to it would: a new file renamed over it.
		copyFile(t, fileCheck, path+".new")
		if err := os.Rename(path+".new", path); err != nil {
			t.Error(err)
		}
	})()
	spec := checkSpec("ok")
	spec.Path, spec.SHA256 = bin, hex.EncodeToString(sum[:])
	p := launch(t, spec) // fails if file-check ran: it is not "testplugin"
	if r, err := p.Check(context.Background(), 0); err != nil || r.Message != "fine" {
		t.Fatalf("check: %+v %v", r, err)
	}
	if b := readFile(t, bin); bytes.Equal(b, readFile(t, testPlugin)) {
		t.Fatal("the hook did not swap the file; the test proves nothing")
	}
}

// A binary or directory anyone but root can change is refused.
func TestWritablePluginRefused(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "plugin")
	copyFile(t, testPlugin, bin)
	spec := checkSpec("ok")
	spec.Path = bin
	os.Chmod(bin, 0o757)
	if _, err := pluginhost.Launch(spec, hclog.NewNullLogger()); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("world-writable binary: %v", err)
	}
	os.Chmod(bin, 0o755)
	os.Chown(bin, 65534, 65534)
	if _, err := pluginhost.Launch(spec, hclog.NewNullLogger()); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Errorf("binary owned by nobody: %v", err)
	}
	os.Chown(bin, 0, 0)
	os.Chmod(dir, 0o777)
	if _, err := pluginhost.Launch(spec, hclog.NewNullLogger()); err == nil || !strings.Contains(err.Error(), "directory "+dir) {
		t.Errorf("world-writable directory: %v", err)
	}
	os.Chmod(dir, os.ModeSticky|0o777) // sticky, like /tmp: others cannot replace root's file
	p, err := pluginhost.Launch(spec, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("sticky directory: %v", err)
	}
	p.Close()
}

// What a hostile plugin writes cannot forge agent log lines or flood the
// log, and its check message is one bounded line.
func TestPluginOutputIsBoundedAndEscaped(t *testing.T) {
	var out logbuf.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Trace})
	p, err := pluginhost.Launch(checkSpec("noisy"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r, err := p.Check(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(r.Message, "\n\r") || len(r.Message) > pluginhost.MaxMessage+32 {
		t.Errorf("check message not one bounded line: %d bytes, %q", len(r.Message), r.Message[:min(200, len(r.Message))])
	}
	p.Close()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	forged := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "2026-01-01T00:00:00.000Z") {
			forged++
		}
	}
	if forged > 0 {
		t.Errorf("%d log lines start like an agent line", forged)
	}
	if n := strings.Count(out.String(), "VI_1 entering MASTER state"); n == 0 || n > 200 {
		t.Errorf("%d of 5000 plugin lines logged, want some and at most 200 (rate limit)", n)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFile(t, from), 0o755); err != nil {
		t.Fatal(err)
	}
}
