// Package nginxproc finds nginx's master process, by its pid file or by its
// command line, and waits for it to exit through a pidfd. It is shared by
// the nginx-process check and the nginx-action action.
package nginxproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
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
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	if !f.AnyNamespace && !inOurNamespace(pid) {
		return false
	}
	b = bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '})
	return bytes.HasPrefix(b, []byte(f.match()))
}

// nsDepth is how many PID namespaces a process is seen in from its own
// down to the one /proc belongs to: the NSpid line of /proc/PID/status
// (world-readable, unlike /proc/PID/ns/pid) has one pid per namespace.
func nsDepth(proc string) int {
	b, err := os.ReadFile(filepath.Join("/proc", proc, "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
			return len(strings.Fields(v))
		}
	}
	return 0 // a kernel without NSpid (before 4.1): no namespaces to tell apart
}

// inOurNamespace reports whether pid runs in this process's PID namespace:
// a process in a namespace below ours (a container's) has more pids.
func inOurNamespace(pid int) bool {
	return nsDepth(strconv.Itoa(pid)) == nsDepth("self")
}

// Process is a found master held by a pidfd, so that a reused pid can
// never be mistaken for it.
type Process struct {
	PID int
	fd  int // -1 when the kernel has no pidfd (before Linux 5.3)
}

// ErrGone is returned when the process found exited before it was held.
var ErrGone = errors.New("process exited")

// Hold finds the master and opens a pidfd on it. The command line is
// checked again after the pidfd is open: if the process is still alive
// then, the pidfd is the process that matched.
func (f *Finder) Hold() (*Process, error) {
	pid, err := f.Find()
	if err != nil {
		return nil, err
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, fmt.Errorf("no nginx master process: %d %w", pid, ErrGone)
		}
		return &Process{PID: pid, fd: -1}, nil // no pidfd: callers poll
	}
	p := &Process{PID: pid, fd: fd}
	if !f.matches(pid) || p.exited(0) {
		p.Close()
		return nil, fmt.Errorf("no nginx master process: %d %w", pid, ErrGone)
	}
	return p, nil
}

// Pollable reports whether Wait can block on the process.
func (p *Process) Pollable() bool { return p.fd >= 0 }

// Wait blocks until the process exits (true) or d passes (false). Without a
// pidfd it checks once, at the end of d.
func (p *Process) Wait(d time.Duration) bool {
	if p.fd < 0 {
		time.Sleep(d)
		return unix.Kill(p.PID, 0) == unix.ESRCH
	}
	return p.exited(d)
}

func (p *Process) exited(d time.Duration) bool {
	ms := int(d / time.Millisecond)
	if d > 0 && ms == 0 {
		ms = 1
	}
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}

// Close releases the pidfd.
func (p *Process) Close() {
	if p.fd >= 0 {
		unix.Close(p.fd)
		p.fd = -1
	}
}
