// Package execcheck is the exec check: a command that exits 0 is healthy,
// as keepalived's vrrp_script. It lets a keepalived site keep its scripts
// while it moves to Vigil; checks written as plugins (nginx-process,
// http-probe) are cheaper and can push results.
package execcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/plugins/internal/script"
	"github.com/vigil-ha/vigil/sdk"
)

var _ sdk.Check = (*Check)(nil)

// Check implements sdk.Check.
type Check struct {
	cfg struct {
		Command []string `json:"command"`
		// ScriptSecurity refuses, when the plugin runs as root, a
		// command a non-root user could change (keepalived's
		// enable_script_security).
		ScriptSecurity bool `json:"script_security"`
	}
}

// New returns an unconfigured check.
func New() sdk.Base { return &Check{} }

// Info names the plugin.
func (c *Check) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "exec", Kind: sdk.KindCheck, Version: "1"}, nil
}

// Configure reads command: the program and its arguments, run without a
// shell (write ["/bin/sh", "-c", "..."] for one), and script_security.
func (c *Check) Configure(_ context.Context, m map[string]any) error {
	if err := sdk.DecodeConfig(m, &c.cfg); err != nil {
		return err
	}
	if len(c.cfg.Command) == 0 {
		return sdk.ConfigErrors{{Attribute: "command", Message: "required: the program and its arguments, e.g. [\"/usr/local/bin/check_nginx.sh\"]"}}
	}
	if _, err := exec.LookPath(c.cfg.Command[0]); err != nil {
		return sdk.ConfigErrors{{Attribute: "command", Message: fmt.Sprintf("%s cannot be run: %v", c.cfg.Command[0], err)}}
	}
	if c.cfg.ScriptSecurity {
		if err := script.Secure(c.cfg.Command); err != nil {
			return sdk.ConfigErrors{{Attribute: "command", Message: fmt.Sprintf("refused by script_security (it would run as root): %v; make it root's alone (chown root, chmod go-w)", err)}}
		}
	}
	return nil
}

// Check runs the command once; the check's timeout is on ctx, and a
// command still running then is killed and counts as failed.
func (c *Check) Check(ctx context.Context) (sdk.Result, error) {
	cmd := script.Command(ctx, c.cfg.Command)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	line, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	var exit *exec.ExitError
	switch {
	case err == nil:
		return sdk.Result{Healthy: true, Message: fmt.Sprintf("%s exited 0", c.cfg.Command[0])}, nil
	case ctx.Err() != nil:
		return sdk.Result{Healthy: false, Message: fmt.Sprintf("%s still running after %v, killed", c.cfg.Command[0], time.Since(start).Round(time.Millisecond))}, nil
	case errors.As(err, &exit):
		return sdk.Result{Healthy: false, Message: strings.TrimSpace(fmt.Sprintf("%s exited %d: %s", c.cfg.Command[0], exit.ExitCode(), line))}, nil
	}
	return sdk.Result{}, err
}
