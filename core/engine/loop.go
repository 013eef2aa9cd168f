package engine

import (
	"container/heap"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/transport"
)

// The engine runs every instance of the node on one goroutine, the loop:
// received adverts, timers and calls from outside all arrive there, so the
// state machines need no locks, and instances whose timers fall due
// together (a node's instances are started together and stay in phase) are
// served by one wake-up, as keepalived's single epoll loop serves them.

// takeoverLead is how early the loop wakes before a backup's deadline.
// Go's runtime timers can fire up to a millisecond late (the poller sleeps
// in whole milliseconds), and a takeover is the one moment that millisecond
// is lost service; so the loop wakes early and finishes with nanosleep,
// which is precise. Masters' advert timers are not affected.
const takeoverLead = 2 * time.Millisecond

// preciseSleep sleeps d. The kernel may stretch a sleep by the thread's
// timer slack (50 us by default) to batch wake-ups; a takeover has no use
// for that, so the thread asks for 1 us first.
func preciseSleep(d time.Duration) {
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	ts := unix.NsecToTimespec(d.Nanoseconds())
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}

// packetFor is a received advert and the instance it is for.
type packetFor struct {
	in *instance
	p  transport.Packet
}

// deadlines is a min-heap of instances by their state machine's deadline.
type deadlines []*instance

func (d deadlines) Len() int           { return len(d) }
func (d deadlines) Less(i, j int) bool { return d[i].due.Before(d[j].due) }
func (d deadlines) Swap(i, j int) {
	d[i], d[j] = d[j], d[i]
	d[i].heapIndex, d[j].heapIndex = i, j
}
func (d *deadlines) Push(x any) {
	in := x.(*instance)
	in.heapIndex = len(*d)
	*d = append(*d, in)
}
func (d *deadlines) Pop() any {
	old := *d
	in := old[len(old)-1]
	*d = old[:len(old)-1]
	in.heapIndex = -1
	return in
}

// fix puts in at its place in the heap after its deadline may have moved.
func (e *Engine) fix(in *instance) {
	in.due = in.m.Deadline()
	switch {
	case in.due.IsZero() || in.stopped:
		if in.heapIndex >= 0 {
			heap.Remove(&e.timers, in.heapIndex)
		}
	case in.heapIndex >= 0:
		heap.Fix(&e.timers, in.heapIndex)
	default:
		heap.Push(&e.timers, in)
	}
}

// do runs f on the loop and waits for it.
func (e *Engine) do(f func(now time.Time)) {
	done := make(chan struct{})
	select {
	case e.work <- func(now time.Time) { f(now); close(done) }:
		<-done
	case <-e.loopDone:
	}
}

// deliver is the sockets' handler: hand the packet to the loop. A full
// queue drops the packet and counts it, rather than stall the socket.
func (e *Engine) deliver(in *instance, p transport.Packet) {
	select {
	case e.pkts <- packetFor{in, p}:
	default:
		in.count("dropped_queue_full")
	}
}

// batchSlack is how early a master's timer may be served when the loop is
// awake anyway: instances whose adverts fall due within it go out in the
// same wake-up instead of one wake-up each.
const batchSlack = time.Millisecond

// tickTime says whether in is to be served at now, and the time its state
// machine is told. That time is the deadline itself, not the wall clock:
// each advert is then scheduled from the previous one's slot, so instances
// started together stay in phase (one wake-up serves them all) and their
// cadence does not drift by the loop's latency. A deadline missed by more
// than an interval (the process was stopped) restarts from now. A backup's
// deadline is a takeover and is never served early.
func tickTime(in *instance, now time.Time) (time.Time, bool) {
	switch {
	case now.Before(in.due) && (in.m.State() != fsm.Master || in.due.Sub(now) > batchSlack):
		return time.Time{}, false
	case now.Sub(in.due) > in.cfg.Interval:
		return now, true
	}
	return in.due, true
}

// packet hands a received advert to its instance. The advert counts from
// its arrival, not from when the loop got to it: a backup's master-down
// timer then expires where the RFC puts it.
func (e *Engine) packet(pf packetFor) {
	if pf.in.stopped {
		return
	}
	at := pf.p.At
	if at.IsZero() {
		at = e.env.now()
	}
	pf.in.packet(at, pf.p)
	e.fix(pf.in)
}

// drainPackets handles every advert already queued.
func (e *Engine) drainPackets() {
	for range cap(e.pkts) {
		select {
		case pf := <-e.pkts:
			e.packet(pf)
		default:
			return
		}
	}
}

func (e *Engine) loop() {
	defer close(e.loopDone)
	timer := newWaker()
	defer timer.Close()
	for {
		var due time.Time
		precise := false
		if len(e.timers) > 0 {
			first := e.timers[0]
			due, precise = first.due, first.m.State() == fsm.Backup
		}
		switch {
		case due.IsZero():
			timer.Reset(time.Hour)
		case precise:
			timer.Reset(time.Until(due) - takeoverLead)
		default:
			timer.Reset(time.Until(due))
		}
		select {
		case pf := <-e.pkts:
			e.packet(pf)
		case <-timer.C:
			if due.IsZero() {
				continue
			}
			if rest := time.Until(due); precise && rest > 0 && rest <= takeoverLead {
				preciseSleep(rest)
			}
			// Adverts that arrived before the deadline come first: one in
			// the queue when a master-down timer fires means the master is
			// alive, whichever channel select happened to pick.
			e.drainPackets()
			// Serve every instance that is due, including those that fall
			// due while the first ones are served. Tick always moves a due
			// deadline forward; the bound only guards against a state
			// machine that would not.
			for served := 0; len(e.timers) > 0 && served <= 2*len(e.instances); served++ {
				in := e.timers[0]
				at, ok := tickTime(in, e.env.now())
				if !ok {
					break
				}
				in.eventAt = at
				in.exec(in.m.Tick(at))
				e.fix(in)
			}
		case f := <-e.work:
			f(e.env.now())
		case <-e.quit:
			return
		}
	}
}

// Alive reports whether the loop runs a no-op within timeout: the
// watchdog's proof that adverts and takeovers are still being served, not
// merely that the process exists.
func (e *Engine) Alive(timeout time.Duration) bool {
	done := make(chan struct{})
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case e.work <- func(time.Time) { close(done) }:
	case <-e.loopDone:
		return false
	case <-t.C:
		return false
	}
	select {
	case <-done:
		return true
	case <-e.loopDone:
		return false
	case <-t.C:
		return false
	}
}
