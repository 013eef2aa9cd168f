package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// Supervisor is the service manager the agent reports to: systemd's
// notify protocol in production (Systemd), nothing when none asked.
type Supervisor interface {
	// Notify sends one state line set ("READY=1", "STOPPING=1" ...).
	Notify(state string)
	// WatchdogInterval is how often the manager wants to hear that the
	// agent is alive; 0 when it does not.
	WatchdogInterval() time.Duration
}

// Systemd speaks sd_notify through $NOTIFY_SOCKET; without it (not run
// by systemd, or Type= is not notify) every call does nothing.
type Systemd struct{}

func (Systemd) Notify(state string) { daemon.SdNotify(false, state) }

func (Systemd) WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0
	}
	return d
}

// reloading is the RELOADING=1 message, stamped as systemd wants it.
func reloading() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000)
}

// watchdog tells sup the agent is alive every half interval, but only
// while alive says the engine's loop serves work within a quarter of it:
// a loop that is stuck stops the pings, and systemd restarts the agent
// (then ExecStopPost's cleanup removes its addresses).
func watchdog(ctx context.Context, sup Supervisor, alive func(time.Duration) bool, onMiss func()) {
	every := sup.WatchdogInterval() / 2
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if alive(every / 2) {
				sup.Notify("WATCHDOG=1")
			} else {
				onMiss()
			}
		}
	}
}
