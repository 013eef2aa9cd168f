package processcheck

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/sdk"
)

func TestParams(t *testing.T) {
	for _, c := range []struct {
		mode      string
		want, got []string
		ok        bool
	}{
		{"", []string{"-f", "a.cfg"}, []string{"-f", "a.cfg"}, true},
		{"", []string{"-f", "a.cfg"}, []string{"-f", "a.cfg", "-d"}, false},
		{"exact", nil, nil, true},
		{"exact", nil, []string{"-d"}, false},
		{"partial", []string{"-f"}, []string{"-f", "a.cfg"}, true},
		{"partial", []string{"-f", "a"}, []string{"-f", "a.cfg"}, false},
		{"initial", []string{"-f", "a"}, []string{"-f", "a.cfg"}, true},
		{"initial", []string{"-x", "a"}, []string{"-f", "a.cfg"}, false},
		{"initial", []string{"-f", "a"}, []string{"-f"}, false},
		{"partial", nil, []string{"anything"}, true},
	} {
		if got := params(c.mode, c.want, c.got); got != c.ok {
			t.Errorf("params(%q, %q, %q) = %v, want %v", c.mode, c.want, c.got, got, c.ok)
		}
	}
}

// named starts a process whose name (comm) is name: a copy of sleep.
func named(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, b, 0o755)
	cmd := exec.Command(bin, append(args, "60")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid)); strings.TrimSpace(string(b)) == name {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start", name)
		}
	}
}

func configured(t *testing.T, cfg map[string]any) *Check {
	t.Helper()
	c := New().(*Check)
	if err := c.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCountsByNameOrCommandLine(t *testing.T) {
	name := fmt.Sprintf("vgp%d", os.Getpid()%1000000)
	a := named(t, name)
	named(t, name)
	for _, c := range []struct {
		name    string
		cfg     map[string]any
		healthy bool
	}{
		{"two run, quorum 1", map[string]any{"process": []any{name}}, true},
		{"quorum 2", map[string]any{"process": []any{name}, "quorum": 2}, true},
		{"quorum 3", map[string]any{"process": []any{name}, "quorum": 3}, false},
		{"quorum_max 1", map[string]any{"process": []any{name}, "quorum_max": 1}, false},
		{"quorum_max 0: none may run", map[string]any{"process": []any{name}, "quorum": 0, "quorum_max": 0}, false},
		{"another name", map[string]any{"process": []any{name + "x"}}, false},
		{"full command: argv[0] and parameters", map[string]any{"process": []any{a.Path, "60"}}, true},
		{"full command, other parameters", map[string]any{"process": []any{a.Path, "61"}}, false},
		{"full command, initial", map[string]any{"process": []any{a.Path, "6"}, "param_match": "initial"}, true},
		{"param_match exact without parameters: none may be given", map[string]any{"process": []any{a.Path}, "param_match": "exact"}, false},
	} {
		r, err := configured(t, c.cfg).Check(context.Background())
		if err != nil || r.Healthy != c.healthy {
			t.Errorf("%s: %+v %v, want healthy=%v", c.name, r, err, c.healthy)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, "process"},
		{map[string]any{"process": []any{"a-name-longer-than-15"}}, "longer than the 15"},
		{map[string]any{"process": []any{"x"}, "param_match": "fuzzy"}, "param_match"},
		{map[string]any{"process": []any{"x"}, "quorum": 3, "quorum_max": 2}, "quorum_max"},
	} {
		err := New().Configure(context.Background(), c.cfg)
		if _, ok := err.(sdk.ConfigErrors); !ok || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a ConfigError on %q", c.cfg, err, c.want)
		}
	}
}

// watch runs Watch and returns its results as they come.
func watch(t *testing.T, c *Check) <-chan sdk.Result {
	t.Helper()
	out := make(chan sdk.Result, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Watch(ctx, func(r sdk.Result) { out <- r }); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

func next(t *testing.T, ch <-chan sdk.Result, within time.Duration) (sdk.Result, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case r := <-ch:
		return r, time.Since(start)
	case <-time.After(within):
		t.Fatalf("no result within %v", within)
	}
	return sdk.Result{}, 0
}

// TestWatchPushesExitAtOnce: a process exiting is pushed at once (pidfd,
// not the rescan), and a new one is found by the rescan.
func TestWatchPushesExitAtOnce(t *testing.T) {
	name := fmt.Sprintf("vgw%d", os.Getpid()%1000000)
	p := named(t, name)
	ch := watch(t, configured(t, map[string]any{"process": []any{name}, "rescan": "5s"}))
	if r, _ := next(t, ch, 5*time.Second); !r.Healthy {
		t.Fatalf("first result %+v", r)
	}
	p.Process.Kill()
	r, took := next(t, ch, 2*time.Second)
	if r.Healthy || took > time.Second {
		t.Errorf("after the kill: %+v in %v, want a failure at once", r, took)
	}
	named(t, name)
	if r, _ := next(t, ch, 8*time.Second); !r.Healthy {
		t.Errorf("a new process was not found: %+v", r)
	}
}

// TestTerminateDelay: a process that is back within terminate_delay
// reports nothing; one that is not fails when the delay is over.
func TestTerminateDelay(t *testing.T) {
	name := fmt.Sprintf("vgd%d", os.Getpid()%1000000)
	p := named(t, name)
	ch := watch(t, configured(t, map[string]any{"process": []any{name}, "terminate_delay": "600ms", "rescan": "20ms"}))
	next(t, ch, 5*time.Second)
	p.Process.Kill()
	p = named(t, name)
	select {
	case r := <-ch:
		t.Fatalf("a restart within terminate_delay reported %+v", r)
	case <-time.After(time.Second):
	}
	p.Process.Kill()
	r, took := next(t, ch, 3*time.Second)
	if r.Healthy || took < 500*time.Millisecond {
		t.Errorf("after the kill: %+v in %v, want a failure after the 600ms delay", r, took)
	}
}
