// Package script runs the keepalived scripts that the exec and
// exec-notify plugins bring over: each in a process group of its own, so
// that a script that outlives its timeout is killed with everything it
// started (a check script's curl, a notify script's sleep), not alone
// while its children run on.
package script

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// Command is exec.CommandContext for a script: when ctx ends, the
// script's whole process group gets SIGKILL, and Wait returns at most a
// second later whatever holds its output open.
func Command(ctx context.Context, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	return cmd
}
