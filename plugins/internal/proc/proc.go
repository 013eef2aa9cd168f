// Package proc reads processes from /proc and holds them through pidfds,
// so that a check learns the moment one exits and a reused pid is never
// taken for it. pidfds work in any network namespace or container, unlike
// the proc connector keepalived's track_process relies on. It is shared
// by the nginx and process checks and the nginx action.
package proc

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// PIDs lists the processes of /proc, this one left out.
func PIDs() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid != os.Getpid() {
			out = append(out, pid)
		}
	}
	return out, nil
}

// Cmdline is pid's argument vector ("" elements kept), nil if it is gone
// or a kernel thread.
func Cmdline(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// Comm is pid's name as the kernel keeps it (15 bytes at most: the Name
// line of /proc/PID/status), "" if it is gone.
func Comm(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
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

// InOurNamespace reports whether pid runs in this process's PID namespace:
// a process in a namespace below ours (a container's) has more pids.
func InOurNamespace(pid int) bool {
	return nsDepth(strconv.Itoa(pid)) == nsDepth("self")
}

// Process is a process held by a pidfd.
type Process struct {
	PID int
	fd  int // -1 when the kernel has no pidfd (before Linux 5.3)
}

// ErrGone is returned when the process exited before it was held.
var ErrGone = errors.New("process exited")

// Hold opens a pidfd on pid, then asks still(pid) whether it is the
// process that was found (its command line, read again): if it is and is
// still alive, the pidfd is that process.
func Hold(pid int, still func(int) bool) (*Process, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, ErrGone
		}
		return &Process{PID: pid, fd: -1}, nil // no pidfd: callers poll
	}
	p := &Process{PID: pid, fd: fd}
	if !still(pid) || p.exited(0) {
		p.Close()
		return nil, ErrGone
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
		return !p.Alive()
	}
	return p.exited(d)
}

// Alive reports whether the process runs, without waiting.
func (p *Process) Alive() bool {
	if p.fd < 0 {
		return unix.Kill(p.PID, 0) != unix.ESRCH
	}
	return !p.exited(0)
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

// WaitAny blocks until one of ps exits (its index) or d passes (-1).
// Processes without a pidfd are checked once at the end of d.
func WaitAny(ps []*Process, d time.Duration) int {
	var fds []unix.PollFd
	var idx []int
	for i, p := range ps {
		if p.fd >= 0 {
			fds = append(fds, unix.PollFd{Fd: int32(p.fd), Events: unix.POLLIN})
			idx = append(idx, i)
		}
	}
	ms := max(int(d/time.Millisecond), 1)
	for {
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err == nil && n > 0 {
			for j, f := range fds {
				if f.Revents != 0 {
					return idx[j]
				}
			}
		}
		break
	}
	for i, p := range ps {
		if p.fd < 0 && !p.Alive() {
			return i
		}
	}
	return -1
}

// Close releases the pidfd.
func (p *Process) Close() {
	if p.fd >= 0 {
		unix.Close(p.fd)
		p.fd = -1
	}
}
