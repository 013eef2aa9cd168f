package engine

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vigil-ha/vigil/core/fsm"
)

// linkWatch follows link state through netlink and tells each instance when
// its own interface or a tracked one goes down or comes back.
type linkWatch struct {
	e    *Engine
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
	up   map[string]bool
}

func newLinkWatch(e *Engine) *linkWatch {
	return &linkWatch{e: e, done: make(chan struct{}), up: map[string]bool{}}
}

// linkUp reads an interface's state now. Operational state "unknown" counts
// as up: veths and many virtual links report it while passing traffic.
func linkUp(name string) bool {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return false
	}
	a := l.Attrs()
	return a.Flags&net.FlagUp != 0 && (a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown)
}

// start subscribes once; later calls do nothing.
func (w *linkWatch) start() {
	w.once.Do(func() {
		ch := make(chan netlink.LinkUpdate, 64)
		if err := netlink.LinkSubscribeWithOptions(ch, w.done, netlink.LinkSubscribeOptions{
			ErrorCallback: func(err error) {
				select {
				case <-w.done: // the socket was closed by the stop: not an error
				default:
					w.e.log.Warn("link monitor error", "error", err)
				}
			},
		}); err != nil {
			w.e.log.Error("cannot monitor interfaces; link state changes will not move instances", "error", err)
			return
		}
		go func() {
			for u := range ch {
				a := u.Link.Attrs()
				up := a.Flags&net.FlagUp != 0 && (a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown)
				w.set(a.Name, up)
			}
		}()
	})
}

func (w *linkWatch) set(name string, up bool) {
	w.mu.Lock()
	was, known := w.up[name]
	w.up[name] = up
	w.mu.Unlock()
	if known && was == up {
		return
	}
	state := "down"
	if up {
		state = "up"
	}
	w.e.log.Info(fmt.Sprintf("interface %s is %s", name, state))
	w.e.do(func(now time.Time) {
		for _, in := range w.e.instances {
			in.linkChanged(now, name, up)
			w.e.fix(in)
		}
	})
}

// linkChanged applies a link state to the instance: its own interface down
// is FAULT; a tracked interface applies its weight, or FAULT at weight 0.
func (in *instance) linkChanged(now time.Time, name string, up bool) {
	word := map[bool]string{true: "up", false: "down"}[up]
	faulted := func() {
		in.setFault(now, fsm.FaultInterface, name, !up, fmt.Sprintf("interface %s is %s", name, word))
	}
	if name == in.cfg.Interface {
		faulted()
	}
	for _, t := range in.cfg.TrackIfs {
		if t.Name != name {
			continue
		}
		src := "interface " + name
		switch {
		case t.Weight == 0:
			faulted()
		case t.Weight > 0 && up, t.Weight < 0 && !up:
			in.setDelta(now, src, t.Weight)
		default:
			in.setDelta(now, src, 0)
		}
	}
}

// initialLinks applies the current state of the instance's interfaces at
// start, before the first event can arrive.
func (in *instance) initialLinks(now time.Time) {
	in.linkChanged(now, in.cfg.Interface, linkUp(in.cfg.Interface))
	for _, t := range in.cfg.TrackIfs {
		in.linkChanged(now, t.Name, linkUp(t.Name))
	}
}

func (w *linkWatch) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
}
