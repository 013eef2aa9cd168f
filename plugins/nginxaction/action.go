// Package nginxaction is the nginx-action action, "restart or yield": when
// the nginx check fails it restarts nginx and waits for its master process:
// on a node that systemd runs, by asking systemd to restart nginx.service
// over D-Bus (no root needed: the package's polkit rule lets the plugin
// user restart that unit, and nothing else); elsewhere by running the start
// command (which needs root to bind nginx's ports).
// If nginx comes back the outcome is recovered and nothing moves; if not,
// the outcome is yield and the agent puts the named instances in FAULT
// (their addresses go to the backups) while the daemon keeps running. The
// seed's script killed keepalived on the whole node instead.
package nginxaction

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"

	"github.com/vigil-ha/vigil/plugins/internal/nginxproc"
	"github.com/vigil-ha/vigil/sdk"
)

var _ sdk.Action = (*Action)(nil)

// Action implements sdk.Action.
type Action struct {
	cfg struct {
		Start   []string     `json:"start"`
		Unit    string       `json:"unit"`
		Wait    sdk.Duration `json:"wait"`
		PIDFile string       `json:"pid_file"`
		Match   string       `json:"match"`
		// AnyPIDNamespace also finds masters of other PID namespaces
		// (containers on this host); off by default.
		AnyPIDNamespace bool `json:"any_pid_namespace"`
	}
	find    nginxproc.Finder
	useUnit bool // restart the unit through systemd, not run start
}

// New returns an unconfigured action.
func New() sdk.Base { return &Action{} }

// Info names the plugin.
func (a *Action) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "nginx-action", Kind: sdk.KindAction, Version: "1"}, nil
}

// Configure reads unit (the systemd unit to restart, default
// nginx.service), start (the command that starts nginx where systemd does
// not run the node, or where the policy names start and no unit; default
// ["/usr/sbin/nginx"]), wait (how long to wait
// for the master, default 5s, the seed's sleep) and pid_file / match (how
// to find the master, as the nginx-process check does).
func (a *Action) Configure(_ context.Context, m map[string]any) error {
	if err := sdk.DecodeConfig(m, &a.cfg); err != nil {
		return err
	}
	var errs sdk.ConfigErrors
	// Under systemd the unit is restarted, unless the policy names a start
	// command and no unit (nginx run by other means: the demo's
	// namespaces, a container).
	a.useUnit = systemdRuns() && (a.cfg.Unit != "" || len(a.cfg.Start) == 0)
	if a.cfg.Unit == "" {
		a.cfg.Unit = "nginx.service"
	}
	if !strings.HasSuffix(a.cfg.Unit, ".service") || strings.ContainsAny(a.cfg.Unit, "/ ") {
		errs = append(errs, sdk.ConfigError{Attribute: "unit", Message: fmt.Sprintf("%q is not a service unit name, like \"nginx.service\"", a.cfg.Unit)})
	}
	if len(a.cfg.Start) == 0 {
		a.cfg.Start = []string{"/usr/sbin/nginx"}
	}
	if _, err := exec.LookPath(a.cfg.Start[0]); err != nil && !a.useUnit {
		errs = append(errs, sdk.ConfigError{Attribute: "start", Message: fmt.Sprintf("%s cannot be run: %v", a.cfg.Start[0], err)})
	}
	if a.cfg.Wait == 0 {
		a.cfg.Wait = sdk.Duration(5 * time.Second)
	}
	if a.cfg.Wait < 0 {
		errs = append(errs, sdk.ConfigError{Attribute: "wait", Message: "must be positive"})
	}
	if len(errs) > 0 {
		return errs
	}
	a.find = nginxproc.Finder{PIDFile: a.cfg.PIDFile, Match: a.cfg.Match, AnyNamespace: a.cfg.AnyPIDNamespace}
	return nil
}

// poll is how often Run looks for the master while nginx starts.
const poll = 10 * time.Millisecond

// Run starts nginx and decides: recovered as soon as a master process is
// there; yield as soon as the start command fails, or when wait runs out.
func (a *Action) Run(ctx context.Context, t sdk.Trigger) (sdk.Outcome, string, error) {
	find := a.finder(t)
	if pid, err := find.Find(); err == nil {
		return sdk.Recovered, fmt.Sprintf("nginx master process %d is already running", pid), nil
	}
	if a.useUnit {
		return a.restartUnit(ctx, find)
	}
	cmd := exec.Command(a.cfg.Start[0], a.cfg.Start[1:]...)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A daemonising nginx may keep the output pipe open in its master;
	// the start command's own exit status is all that is waited for.
	cmd.WaitDelay = 100 * time.Millisecond
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sdk.Yield, fmt.Sprintf("cannot run %s: %v", a.cfg.Start[0], err), nil
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.NewTimer(time.Duration(a.cfg.Wait))
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	cmdline := strings.Join(a.cfg.Start, " ")
	for {
		select {
		case err := <-exited:
			exited = nil
			if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
				// The start failed: nginx will not come back by waiting.
				return sdk.Yield, fmt.Sprintf("%s failed: %v: %s", cmdline, err, out.String()), nil
			}
		case <-tick.C:
		case <-deadline.C:
			if exited != nil && cmd.Process != nil {
				_ = cmd.Process.Kill() // a foreground start that never became a master
			}
			return sdk.Yield, fmt.Sprintf("no nginx master process %v after %s: %s", time.Duration(a.cfg.Wait), cmdline, out.String()), nil
		case <-ctx.Done():
			return sdk.Yield, "interrupted: " + ctx.Err().Error(), nil
		}
		if pid, err := find.Find(); err == nil {
			return sdk.Recovered, fmt.Sprintf("started nginx with %s: master process %d after %v", cmdline, pid, time.Since(start).Round(time.Millisecond)), nil
		}
	}
}

// systemdRuns reports whether systemd runs this node (sd_booted's test).
var systemdRuns = func() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// restartUnit asks systemd to restart the unit, waits for the job's
// result and then for the master: recovered when both come in time, yield
// otherwise (the unit failed: its configuration, a port taken ...).
func (a *Action) restartUnit(ctx context.Context, find nginxproc.Finder) (sdk.Outcome, string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(a.cfg.Wait))
	defer cancel()
	start := time.Now()
	conn, err := dbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return sdk.Yield, fmt.Sprintf("cannot reach systemd to restart %s: %v", a.cfg.Unit, err), nil
	}
	defer conn.Close()
	done := make(chan string, 1)
	if _, err := conn.RestartUnitContext(ctx, a.cfg.Unit, "replace", done); err != nil {
		return sdk.Yield, fmt.Sprintf("systemd refused to restart %s: %v", a.cfg.Unit, err), nil
	}
	select {
	case result := <-done:
		if result != "done" {
			return sdk.Yield, fmt.Sprintf("restart of %s: %s (journalctl -u %s)", a.cfg.Unit, result, a.cfg.Unit), nil
		}
	case <-ctx.Done():
		return sdk.Yield, fmt.Sprintf("restart of %s did not finish within %v", a.cfg.Unit, time.Duration(a.cfg.Wait)), nil
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		if pid, err := find.Find(); err == nil {
			return sdk.Recovered, fmt.Sprintf("restarted %s through systemd: master process %d after %v", a.cfg.Unit, pid, time.Since(start).Round(time.Millisecond)), nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return sdk.Yield, fmt.Sprintf("%s restarted but no nginx master process after %v", a.cfg.Unit, time.Duration(a.cfg.Wait)), nil
		}
	}
}

// finder is how this run finds the master: the action's own pid_file and
// match if it has either, else its check's, so that the action looks for
// the very master the check found missing (on a host with containers,
// another nginx would do for "some nginx runs").
func (a *Action) finder(t sdk.Trigger) nginxproc.Finder {
	if a.cfg.PIDFile != "" || a.cfg.Match != "" || t.CheckConfig == nil {
		return a.find
	}
	var cc struct {
		PIDFile         string `json:"pid_file"`
		Match           string `json:"match"`
		AnyPIDNamespace bool   `json:"any_pid_namespace"`
	}
	if b, err := json.Marshal(t.CheckConfig); err != nil || json.Unmarshal(b, &cc) != nil {
		return a.find
	}
	return nginxproc.Finder{PIDFile: cc.PIDFile, Match: cc.Match, AnyNamespace: a.cfg.AnyPIDNamespace || cc.AnyPIDNamespace}
}

// limitedBuffer keeps the first 2 KiB of a command's output, enough for
// nginx's "[emerg]" line, safe to write from the exec goroutines.
type limitedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := 2048 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(l.b.String())
}
