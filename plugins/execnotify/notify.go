// Package execnotify is the exec-notify notifier: keepalived's notify
// scripts and notify FIFO, run from Vigil's durable notification queue (in
// order, once each, with a timeout), so that a keepalived site keeps its
// scripts when it moves to Vigil.
package execnotify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/plugins/internal/script"
	"github.com/vigil-ha/vigil/sdk"
)

var _ sdk.Notifier = (*Notifier)(nil)

type config struct {
	// Command runs on every state change with keepalived's four
	// arguments appended: INSTANCE, the instance's name, its new state
	// (MASTER, BACKUP, FAULT or STOP) and its priority, or GROUP, the sync
	// group's name, its state and 0 (keepalived's notify).
	Command []string `json:"command"`
	// Master, Backup, Fault and Stop run, as they are, when the instance
	// enters that state (keepalived's notify_master ...).
	Master []string `json:"master"`
	Backup []string `json:"backup"`
	Fault  []string `json:"fault"`
	Stop   []string `json:"stop"`
	// FIFO gets keepalived's notify_fifo line for every change:
	// INSTANCE "VI_1" MASTER 100.
	FIFO    string `json:"fifo"`
	Timeout string `json:"timeout"`
	// ScriptSecurity refuses, when the plugin runs as root, a command a
	// non-root user could change (keepalived's enable_script_security).
	ScriptSecurity bool `json:"script_security"`
}

// Notifier implements sdk.Notifier.
type Notifier struct {
	cfg     config
	timeout time.Duration
}

// New returns an unconfigured notifier.
func New() sdk.Base { return &Notifier{} }

// Info names the plugin.
func (n *Notifier) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "exec-notify", Kind: sdk.KindNotifier, Version: "1"}, nil
}

// Configure checks that each command can be run.
func (n *Notifier) Configure(_ context.Context, m map[string]any) error {
	if err := sdk.DecodeConfig(m, &n.cfg); err != nil {
		return err
	}
	var errs sdk.ConfigErrors
	n.timeout = 30 * time.Second
	if n.cfg.Timeout != "" {
		d, err := time.ParseDuration(n.cfg.Timeout)
		if err != nil || d <= 0 {
			errs = append(errs, sdk.ConfigError{Attribute: "timeout", Message: fmt.Sprintf("%q is not a positive duration, like \"30s\"", n.cfg.Timeout)})
		}
		n.timeout = d
	}
	set := 0
	for attr, cmd := range map[string][]string{"command": n.cfg.Command, "master": n.cfg.Master, "backup": n.cfg.Backup, "fault": n.cfg.Fault, "stop": n.cfg.Stop} {
		if len(cmd) == 0 {
			continue
		}
		set++
		if _, err := exec.LookPath(cmd[0]); err != nil {
			errs = append(errs, sdk.ConfigError{Attribute: attr, Message: fmt.Sprintf("%s cannot be run: %v", cmd[0], err)})
		} else if n.cfg.ScriptSecurity {
			if err := script.Secure(cmd); err != nil {
				errs = append(errs, sdk.ConfigError{Attribute: attr, Message: fmt.Sprintf("refused by script_security (it would run as root): %v; make it root's alone (chown root, chmod go-w)", err)})
			}
		}
	}
	if n.cfg.FIFO != "" {
		if fi, err := os.Lstat(n.cfg.FIFO); err == nil && fi.Mode()&os.ModeNamedPipe == 0 {
			errs = append(errs, sdk.ConfigError{Attribute: "fifo", Message: fmt.Sprintf("%s is not a FIFO (a symbolic link or a file is never written); name the FIFO itself, made with mkfifo", n.cfg.FIFO)})
		}
	}
	if set == 0 && n.cfg.FIFO == "" {
		errs = append(errs, sdk.ConfigError{Message: "nothing to do: set command, master, backup, fault, stop or fifo"})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// state is keepalived's name for the state an event enters: an instance
// that stops (INIT on shutdown) is STOP.
func state(ev sdk.Event) string {
	if ev.To == "INIT" {
		return "STOP"
	}
	return ev.To
}

// Notify writes the FIFO line, then runs the state's command and the
// generic one. A FIFO nobody reads is an error (the queue retries the
// event later); a command that fails is reported in the plugin's log and
// not run again, as keepalived runs a notify script once.
//
// A sync group's event goes out as keepalived's GROUP line, with priority
// 0; a group's STOP runs only the stop command, since keepalived's generic
// notify and FIFO carry STOP for instances only.
//
// A priority change (notify_priority_changes) is a FIFO line only, as
// keepalived sends it: INSTANCE "VI_1" MASTER_PRIORITY 140, or
// BACKUP_PRIORITY in any other state.
func (n *Notifier) Notify(ctx context.Context, ev sdk.Event) error {
	if ev.PriorityChange {
		if n.cfg.FIFO == "" {
			return nil
		}
		st := "BACKUP_PRIORITY"
		if ev.To == "MASTER" {
			st = "MASTER_PRIORITY"
		}
		return writeFIFO(ctx, n.cfg.FIFO, fmt.Sprintf("INSTANCE %q %s %d\n", ev.Instance, st, ev.Priority))
	}
	st := state(ev)
	kind, name, prio := "INSTANCE", ev.Instance, strconv.Itoa(ev.Priority)
	if ev.Group != "" {
		kind, name, prio = "GROUP", ev.Group, "0"
	}
	generic := kind == "INSTANCE" || st != "STOP"
	if n.cfg.FIFO != "" && generic {
		if err := writeFIFO(ctx, n.cfg.FIFO, fmt.Sprintf("%s %q %s %s\n", kind, name, st, prio)); err != nil {
			return err
		}
	}
	perState := map[string][]string{"MASTER": n.cfg.Master, "BACKUP": n.cfg.Backup, "FAULT": n.cfg.Fault, "STOP": n.cfg.Stop}[st]
	if len(perState) > 0 {
		n.run(ctx, perState)
	}
	if len(n.cfg.Command) > 0 && generic {
		n.run(ctx, append(append([]string(nil), n.cfg.Command...), kind, name, st, prio))
	}
	return nil
}

// run runs one command with the timeout and logs how it ended.
func (n *Notifier) run(ctx context.Context, argv []string) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	cmd := script.Command(ctx, argv)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		line, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
		if ctx.Err() != nil {
			err = fmt.Errorf("killed after %v", n.timeout)
		}
		// The agent reads the plugin's stderr as its log.
		fmt.Fprintf(os.Stderr, "notify command %s failed: %v %s\n", argv[0], err, line)
	}
}

// fifoWriteTimeout bounds a write to a FIFO whose reader stopped reading
// (its buffer full) when the call has no deadline of its own.
const fifoWriteTimeout = 5 * time.Second

// writeFIFO writes one line to the FIFO at path, never blocking for
// longer than ctx allows: no reader is an error, and so is a reader that
// does not take the line in time. Only a FIFO is written: a symbolic
// link or a regular file at path (which the plugin's user could then be
// made to overwrite or append to) is refused.
func writeFIFO(ctx context.Context, path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	switch {
	case errors.Is(err, syscall.ENXIO):
		return fmt.Errorf("fifo %s has no reader", path)
	case errors.Is(err, syscall.ELOOP):
		return fmt.Errorf("fifo %s is a symbolic link; name the FIFO itself", path)
	case err != nil:
		return fmt.Errorf("fifo %s: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return fmt.Errorf("fifo %s is not a FIFO (mkfifo it)", path)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(fifoWriteTimeout)
	}
	f.SetWriteDeadline(deadline)
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("fifo %s: %w", path, err)
	}
	return nil
}
