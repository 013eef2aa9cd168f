package engine

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// waker wakes the loop at its next deadline through a timerfd that the
// runtime's poller watches, instead of a runtime timer. An idle node's
// only regular work is one advert per interval, and a runtime timer makes
// each wake-up cost several threads' worth of context switches: the
// runtime's monitor thread sleeps until the next timer and polls again
// after it, and the poller rounds its sleep to whole milliseconds and
// wakes early. With no runtime timer pending, the monitor sleeps on, and
// the poller wakes once, on time (docs/benchmarks.md, idle cost).
type waker struct {
	f *os.File
	C chan struct{} // a token when the deadline has passed
	// fallback is a runtime timer, used only where the timerfd could not
	// be made or armed.
	fallback *time.Timer
}

func newWaker() *waker {
	w := &waker{C: make(chan struct{}, 1)}
	w.fallback = time.AfterFunc(time.Hour, w.fire)
	w.fallback.Stop()
	if fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err == nil {
		w.f = os.NewFile(uintptr(fd), "timerfd")
		go w.run()
	}
	return w
}

func (w *waker) fire() {
	select {
	case w.C <- struct{}{}:
	default:
	}
}

// run turns each expiry into a token; it ends when the file is closed.
func (w *waker) run() {
	var buf [8]byte // the expiry count
	for {
		if _, err := w.f.Read(buf[:]); err != nil {
			return
		}
		w.fire()
	}
}

// Reset arms the waker to fire once after d (at once when d <= 0); a
// token from an earlier deadline is dropped.
func (w *waker) Reset(d time.Duration) {
	select {
	case <-w.C:
	default:
	}
	if w.f != nil {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(d, 1).Nanoseconds())}
		rc, err := w.f.SyscallConn()
		if err == nil {
			rc.Control(func(fd uintptr) { err = unix.TimerfdSettime(int(fd), 0, &spec, nil) })
		}
		if err == nil {
			return
		}
	}
	w.fallback.Reset(d)
}

// Close stops the waker.
func (w *waker) Close() {
	w.fallback.Stop()
	if w.f != nil {
		w.f.Close()
	}
}
