// Package caps keeps an unprivileged agent's capabilities to what each
// moment needs. The unit grants them as ambient capabilities, which every
// thread holds effective and every child would inherit; Restrict leaves
// only CAP_NET_ADMIN and CAP_NET_RAW effective on every thread, keeps the
// two the agent raises for one call (CAP_SETUID and CAP_SETGID: starting a
// plugin as its user, giving the status socket its group) in the
// permitted set only, and empties the inheritable and ambient sets. With raises one
// of those on a single locked thread for the length of one call.
//
// Capabilities are per thread in Linux. Restrict changes every thread of
// the process at once (syscall.AllThreadsSyscall, which needs a binary
// built without cgo, as vigil is); With works on the calling thread only,
// and threads the runtime creates meanwhile are not cloned from a locked
// one, so they never see a raised set.
package caps

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Cap is a Linux capability number.
type Cap uint

// The capabilities the agent uses.
const (
	SetGID   Cap = unix.CAP_SETGID    // a plugin started as its group; the status socket's group
	SetUID   Cap = unix.CAP_SETUID    // a plugin started as its user
	NetAdmin Cap = unix.CAP_NET_ADMIN // addresses, links, nftables, sysctls
	NetRaw   Cap = unix.CAP_NET_RAW   // VRRP, ARP and NA sockets
)

// Working are the capabilities an agent holds effective all the time.
var Working = []Cap{NetAdmin, NetRaw}

// Raisable are held permitted but not effective, for With.
var Raisable = []Cap{SetGID, SetUID}

// Sets are a thread's three capability sets as bit masks.
type Sets struct{ Effective, Permitted, Inheritable uint64 }

func mask(cs []Cap) uint64 {
	var m uint64
	for _, c := range cs {
		m |= 1 << c
	}
	return m
}

// Has reports whether every capability in cs is in the mask m.
func Has(m uint64, cs ...Cap) bool { return m&mask(cs) == mask(cs) }

// Current reads the calling thread's sets.
func Current() (Sets, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData
	if err := unix.Capget(&hdr, &d[0]); err != nil {
		return Sets{}, fmt.Errorf("capget: %w", err)
	}
	join := func(lo, hi uint32) uint64 { return uint64(lo) | uint64(hi)<<32 }
	return Sets{join(d[0].Effective, d[1].Effective), join(d[0].Permitted, d[1].Permitted), join(d[0].Inheritable, d[1].Inheritable)}, nil
}

func (s Sets) data() (*unix.CapUserHeader, *[2]unix.CapUserData) {
	hdr := &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	d := &[2]unix.CapUserData{
		{Effective: uint32(s.Effective), Permitted: uint32(s.Permitted), Inheritable: uint32(s.Inheritable)},
		{Effective: uint32(s.Effective >> 32), Permitted: uint32(s.Permitted >> 32), Inheritable: uint32(s.Inheritable >> 32)},
	}
	return hdr, d
}

func (s Sets) applyThread() error {
	hdr, d := s.data()
	if err := unix.Capset(hdr, &d[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// ErrCgo is returned by Restrict in a binary built with cgo, where the
// runtime cannot change every thread at once.
var ErrCgo = errors.New("capabilities cannot be changed on every thread of a binary built with cgo")

func (s Sets) applyAll() error {
	hdr, d := s.data()
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(hdr)), uintptr(unsafe.Pointer(&d[0])), 0)
	switch {
	case errno == syscall.ENOTSUP:
		return ErrCgo
	case errno != 0:
		return fmt.Errorf("capset on every thread: %w", errno)
	}
	runtime.KeepAlive(hdr)
	runtime.KeepAlive(d)
	return nil
}

// Restricted is what Restrict makes of sets s: Working effective (as far
// as permitted), Working and Raisable permitted (as far as they were),
// nothing inheritable (which empties the ambient set too: a capability is
// ambient only while it is inheritable).
func Restricted(s Sets) Sets {
	perm := s.Permitted & (mask(Working) | mask(Raisable))
	return Sets{Effective: perm & mask(Working), Permitted: perm}
}

// Restrict applies Restricted to every thread of an agent that does not
// run as root. A root agent keeps its sets: its plugins lose every
// capability when they change to their user, and it may run as root
// whatever a policy asks.
func Restrict() error {
	if os.Geteuid() == 0 {
		return nil
	}
	cur, err := Current()
	if err != nil {
		return err
	}
	return Restricted(cur).applyAll()
}

// With runs f on a locked thread with cs raised into the effective set
// (those the thread holds permitted; a missing one is f's error to meet)
// and with no inheritable or ambient capability, so that a process f
// starts inherits none. The thread's sets are put back afterwards; a
// thread whose sets could not be put back is not returned to the runtime.
func With(cs []Cap, f func() error) error {
	runtime.LockOSThread()
	cur, err := Current()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	raised := Sets{Effective: cur.Effective | (mask(cs) & cur.Permitted), Permitted: cur.Permitted}
	if raised != cur {
		if err := raised.applyThread(); err != nil {
			runtime.UnlockOSThread()
			return err
		}
	}
	// The ambient set may be left over where Restrict did not run (an
	// agent started by hand with setpriv, a cgo build).
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return errors.Join(fmt.Errorf("clear ambient capabilities: %w", err), restore(cur, raised))
	}
	ferr := f()
	return errors.Join(ferr, restore(cur, raised))
}

// restore puts the thread's sets back after With (less the inheritable
// ones, which nothing of the agent needs) and unlocks it. A thread that
// could not be lowered stays locked to its goroutine, so nothing else is
// ever scheduled on it.
func restore(cur, raised Sets) error {
	back := Sets{Effective: cur.Effective, Permitted: cur.Permitted}
	if back != raised {
		if err := back.applyThread(); err != nil {
			return fmt.Errorf("lower capabilities after a privileged call: %w", err)
		}
	}
	runtime.UnlockOSThread()
	return nil
}
