// Package nginxprocess is the nginx-process check: nginx's master process
// is alive. It is event-driven: Watch holds the master through a pidfd and
// pushes a failure the moment it exits, instead of finding out at the next
// poll; while no master runs it re-scans so that a restarted nginx is seen.
// pidfds work in any network namespace or container, unlike the proc
// connector keepalived's track_process relies on.
package nginxprocess

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/plugins/internal/nginxproc"
	"github.com/vigil-ha/vigil/sdk"
)

var (
	_ sdk.Check   = (*Check)(nil)
	_ sdk.Watcher = (*Check)(nil)
)

// Check implements sdk.Check and sdk.Watcher.
type Check struct {
	cfg struct {
		PIDFile string `json:"pid_file"`
		Match   string `json:"match"`
		// AnyPIDNamespace also finds masters of other PID namespaces
		// (containers on this host); off by default.
		AnyPIDNamespace bool         `json:"any_pid_namespace"`
		Rescan          sdk.Duration `json:"rescan"`
	}
	find nginxproc.Finder
}

// New returns an unconfigured check.
func New() sdk.Base { return &Check{} }

// Info names the plugin.
func (c *Check) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "nginx-process", Kind: sdk.KindCheck, Version: "1"}, nil
}

// Configure reads pid_file (default: find the master by command line),
// match (default "nginx: master process") and rescan (default 500ms: how
// often to look for a master while none runs).
func (c *Check) Configure(_ context.Context, m map[string]any) error {
	if err := sdk.DecodeConfig(m, &c.cfg); err != nil {
		return err
	}
	if c.cfg.Rescan == 0 {
		c.cfg.Rescan = sdk.Duration(500 * time.Millisecond)
	}
	if c.cfg.Rescan < sdk.Duration(10*time.Millisecond) {
		return sdk.ConfigErrors{{Attribute: "rescan", Message: "must be at least 10ms"}}
	}
	c.find = nginxproc.Finder{PIDFile: c.cfg.PIDFile, Match: c.cfg.Match, AnyNamespace: c.cfg.AnyPIDNamespace}
	return nil
}

// Check looks for the master once.
func (c *Check) Check(context.Context) (sdk.Result, error) {
	pid, err := c.find.Find()
	if err != nil {
		return sdk.Result{Healthy: false, Message: err.Error()}, nil
	}
	return sdk.Result{Healthy: true, Message: fmt.Sprintf("nginx master process %d running", pid)}, nil
}

// Watch reports the master's state as it changes: healthy when one is
// held, unhealthy the moment it exits (unless a new master, such as one
// from a binary upgrade, is already there).
func (c *Check) Watch(ctx context.Context, report func(sdk.Result)) error {
	var last *sdk.Result
	push := func(r sdk.Result) {
		if last == nil || last.Healthy != r.Healthy {
			report(r)
		}
		last = &r
	}
	chunk := min(time.Duration(c.cfg.Rescan), time.Second)
	for ctx.Err() == nil {
		p, err := c.find.Hold()
		if err != nil {
			push(sdk.Result{Healthy: false, Message: err.Error()})
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(c.cfg.Rescan)):
			}
			continue
		}
		push(sdk.Result{Healthy: true, Message: fmt.Sprintf("nginx master process %d running", p.PID)})
		for ctx.Err() == nil && !p.Wait(chunk) {
		}
		p.Close()
		if ctx.Err() != nil {
			break
		}
		if next, err := c.find.Find(); err == nil && next != p.PID {
			continue // a new master took over
		}
		push(sdk.Result{Healthy: false, Message: fmt.Sprintf("nginx master process %d exited", p.PID)})
	}
	return nil
}
