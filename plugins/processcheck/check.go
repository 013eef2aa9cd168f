// Package processcheck is the process check: enough processes of a name
// (or a command line) run, as keepalived's vrrp_track_process. It is
// event-driven: Watch holds every matching process through a pidfd and
// pushes the change the moment one exits; it looks for new ones at once
// then, and every rescan interval while the count is short (or capped by
// quorum_max). keepalived watches through the netlink proc connector,
// which fails outside the initial network namespace; pidfds do not.
package processcheck

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/plugins/internal/proc"
	"github.com/vigil-ha/vigil/sdk"
)

var (
	_ sdk.Check   = (*Check)(nil)
	_ sdk.Watcher = (*Check)(nil)
)

// comm is the longest process name the kernel keeps (TASK_COMM_LEN - 1).
const comm = 15

type config struct {
	// Process is keepalived's process line: the name (or, with
	// parameters or full_command, argv[0]) and the parameters to match.
	Process []string `json:"process"`
	// ParamMatch: "" (parameters, if any, match exactly), "exact" (also
	// without parameters: the process has none), "partial" (the first
	// ones match, more may follow) or "initial" (as partial, and the last
	// one given may be the start of the process's).
	ParamMatch  string `json:"param_match"`
	FullCommand bool   `json:"full_command"`
	Quorum      *int   `json:"quorum"`
	QuorumMax   *int   `json:"quorum_max"`
	// ForkDelay holds a regained quorum this long before passing;
	// TerminateDelay holds a lost one this long before failing (keepalived's
	// fork_delay, terminate_delay; delay sets both).
	ForkDelay       sdk.Duration `json:"fork_delay"`
	TerminateDelay  sdk.Duration `json:"terminate_delay"`
	Delay           sdk.Duration `json:"delay"`
	Rescan          sdk.Duration `json:"rescan"`
	AnyPIDNamespace bool         `json:"any_pid_namespace"`
}

// Check implements sdk.Check and sdk.Watcher.
type Check struct {
	cfg      config
	min, max int // quorum; max < 0 is unlimited
}

// New returns an unconfigured check.
func New() sdk.Base { return &Check{} }

// Info names the plugin.
func (c *Check) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "process", Kind: sdk.KindCheck, Version: "1"}, nil
}

// Configure reads the settings; see config.
func (c *Check) Configure(_ context.Context, m map[string]any) error {
	c.cfg = config{}
	if err := sdk.DecodeConfig(m, &c.cfg); err != nil {
		return err
	}
	var errs sdk.ConfigErrors
	if len(c.cfg.Process) == 0 || c.cfg.Process[0] == "" {
		errs = append(errs, sdk.ConfigError{Attribute: "process", Message: "required: the process name and, to match the command line, its parameters, e.g. [\"haproxy\"] or [\"/usr/sbin/haproxy\", \"-f\", \"/etc/haproxy/haproxy.cfg\"]"})
	}
	if !slices.Contains([]string{"", "exact", "partial", "initial"}, c.cfg.ParamMatch) {
		errs = append(errs, sdk.ConfigError{Attribute: "param_match", Message: fmt.Sprintf("%q: one of exact, partial, initial", c.cfg.ParamMatch)})
	}
	if c.matchesName() && len(c.cfg.Process[0]) > comm {
		errs = append(errs, sdk.ConfigError{Attribute: "process", Message: fmt.Sprintf("%q is longer than the %d characters the kernel keeps of a process name: it never matches; set full_command = true to match the command line", c.cfg.Process[0], comm)})
	}
	c.min, c.max = 1, -1
	if c.cfg.Quorum != nil {
		c.min = *c.cfg.Quorum
	}
	if c.cfg.QuorumMax != nil {
		c.max = *c.cfg.QuorumMax
	}
	switch {
	case c.min < 0:
		errs = append(errs, sdk.ConfigError{Attribute: "quorum", Message: "must be 0 or more"})
	case c.max >= 0 && c.max < c.min:
		errs = append(errs, sdk.ConfigError{Attribute: "quorum_max", Message: fmt.Sprintf("%d is below quorum %d: the check could never pass", c.max, c.min)})
	}
	if c.cfg.Delay > 0 {
		c.cfg.ForkDelay, c.cfg.TerminateDelay = c.cfg.Delay, c.cfg.Delay
	}
	if c.cfg.Rescan == 0 {
		c.cfg.Rescan = sdk.Duration(500 * time.Millisecond)
	}
	if c.cfg.Rescan < sdk.Duration(10*time.Millisecond) {
		errs = append(errs, sdk.ConfigError{Attribute: "rescan", Message: "must be at least 10ms"})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// matchesName reports whether the process name (comm) is matched rather
// than the command line.
func (c *Check) matchesName() bool {
	return !c.cfg.FullCommand && c.cfg.ParamMatch == "" && len(c.cfg.Process) == 1
}

// matches reports whether pid is one of the processes counted.
func (c *Check) matches(pid int) bool {
	if !c.cfg.AnyPIDNamespace && !proc.InOurNamespace(pid) {
		return false
	}
	if c.matchesName() {
		return proc.Comm(pid) == c.cfg.Process[0]
	}
	argv := proc.Cmdline(pid)
	if len(argv) == 0 || argv[0] != c.cfg.Process[0] {
		return false
	}
	return params(c.cfg.ParamMatch, c.cfg.Process[1:], argv[1:])
}

// params is keepalived's parameter match: exact (the default) wants the
// same parameters, partial the given ones first, initial the same with
// the last one given a prefix of the process's.
func params(mode string, want, got []string) bool {
	if mode == "" || mode == "exact" {
		return slices.Equal(want, got)
	}
	if len(got) < len(want) {
		return false
	}
	if mode == "partial" || len(want) == 0 {
		return slices.Equal(want, got[:len(want)])
	}
	n := len(want) - 1
	return slices.Equal(want[:n], got[:n]) && strings.HasPrefix(got[n], want[n])
}

// find lists the matching processes.
func (c *Check) find() []int {
	pids, _ := proc.PIDs()
	var out []int
	for _, pid := range pids {
		if c.matches(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// result is the check's verdict on n processes.
func (c *Check) result(n int) sdk.Result {
	name := strings.Join(c.cfg.Process, " ")
	switch {
	case n < c.min:
		return sdk.Result{Healthy: false, Message: fmt.Sprintf("%d processes %q run, quorum is %d", n, name, c.min)}
	case c.max >= 0 && n > c.max:
		return sdk.Result{Healthy: false, Message: fmt.Sprintf("%d processes %q run, at most %d may", n, name, c.max)}
	}
	return sdk.Result{Healthy: true, Message: fmt.Sprintf("%d processes %q run", n, name)}
}

// Check counts the processes once.
func (c *Check) Check(context.Context) (sdk.Result, error) {
	return c.result(len(c.find())), nil
}

// Watch reports the count's verdict as it changes: at once when it starts,
// then each change once it has lasted fork_delay (passing again) or
// terminate_delay (failing).
func (c *Check) Watch(ctx context.Context, report func(sdk.Result)) error {
	held := map[int]*proc.Process{}
	defer func() {
		for _, p := range held {
			p.Close()
		}
	}()
	var reported *bool
	var since time.Time // when the verdict started to differ from the one reported
	scan := true        // look in /proc: at the start, after an exit, when a rescan is due
	for ctx.Err() == nil {
		if scan {
			c.hold(held)
		}
		v := c.result(len(held))
		now := time.Now()
		wait := time.Second // only to see ctx end, when nothing else is due
		switch {
		case reported == nil:
			report(v)
			reported = &v.Healthy
		case v.Healthy == *reported:
			since = time.Time{}
		default:
			delay := time.Duration(c.cfg.TerminateDelay)
			if v.Healthy {
				delay = time.Duration(c.cfg.ForkDelay)
			}
			if since.IsZero() {
				since = now
			}
			if left := delay - now.Sub(since); left > 0 {
				wait = left
				break
			}
			report(v)
			reported, since = &v.Healthy, time.Time{}
		}
		scan = len(held) < c.min || c.max >= 0 || !since.IsZero()
		if scan {
			wait = min(wait, time.Duration(c.cfg.Rescan)) // new processes are found only by looking
		}
		ps := make([]*proc.Process, 0, len(held))
		for _, p := range held {
			ps = append(ps, p)
		}
		if i := proc.WaitAny(ps, wait); i >= 0 {
			ps[i].Close()
			delete(held, ps[i].PID)
			scan = true
		}
	}
	return nil
}

// hold adds the matching processes not held yet and drops those gone.
func (c *Check) hold(held map[int]*proc.Process) {
	for pid, p := range held {
		if !p.Alive() {
			p.Close()
			delete(held, pid)
		}
	}
	for _, pid := range c.find() {
		if _, ok := held[pid]; ok {
			continue
		}
		if p, err := proc.Hold(pid, c.matches); err == nil {
			held[pid] = p
		}
	}
}
