// Package nginxproc finds nginx's master process, by its pid file or by its
// command line, and waits for it to exit through a pidfd (package proc). It is shared by
// the nginx-process check and the nginx-action action.
package nginxproc

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vigil-ha/vigil/plugins/internal/proc"
)

// DefaultMatch is how nginx names its master process in ps.
const DefaultMatch = "nginx: master process"

// Finder locates the master process.
type Finder struct {
	// PIDFile, if set, is read for the master's pid; the process must also
	// match Match, so that a stale pid file naming a reused pid is not
	// taken for nginx.
	PIDFile string
	// Match is the start of the master's command line.
	Match string
	// AnyNamespace also accepts processes of other PID namespaces. By
	// default only this node's own are: a host running containers sees
	// their nginx masters too, and one of them alive says nothing about
	// the nginx this node serves with.
	AnyNamespace bool
}

func (f *Finder) match() string {
	if f.Match == "" {
		return DefaultMatch
	}
	return f.Match
}

// Find returns the master's pid, or an error saying why there is none in
// the words an operator would look for.
func (f *Finder) Find() (int, error) {
	if f.PIDFile != "" {
		b, err := os.ReadFile(f.PIDFile)
		if err != nil {
			return 0, fmt.Errorf("no nginx master process: %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			return 0, fmt.Errorf("no nginx master process: pid file %s holds %q", f.PIDFile, strings.TrimSpace(string(b)))
		}
		if !f.matches(pid) {
			return 0, fmt.Errorf("no nginx master process: pid %d from %s is not running as %q", pid, f.PIDFile, f.match())
		}
		return pid, nil
	}
	pids, err := proc.PIDs()
	if err != nil {
		return 0, err
	}
	for _, pid := range pids {
		if f.matches(pid) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no nginx master process: no process runs as %q", f.match())
}

// matches reports whether pid's command line starts with Match, and, unless
// AnyNamespace, whether it runs in this PID namespace. nginx rewrites its
// argv, so the whole title is one NUL-terminated string.
func (f *Finder) matches(pid int) bool {
	argv := proc.Cmdline(pid)
	if argv == nil || !f.AnyNamespace && !proc.InOurNamespace(pid) {
		return false
	}
	return strings.HasPrefix(strings.Join(argv, " "), f.match())
}

// Process is a found master held by a pidfd.
type Process = proc.Process

// ErrGone is returned when the process found exited before it was held.
var ErrGone = proc.ErrGone

// Hold finds the master and opens a pidfd on it. The command line is
// checked again after the pidfd is open: if the process is still alive
// then, the pidfd is the process that matched.
func (f *Finder) Hold() (*Process, error) {
	pid, err := f.Find()
	if err != nil {
		return nil, err
	}
	p, err := proc.Hold(pid, f.matches)
	if err != nil {
		return nil, fmt.Errorf("no nginx master process: %d %w", pid, err)
	}
	return p, nil
}
