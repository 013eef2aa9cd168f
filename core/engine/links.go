package engine

import (
	"fmt"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/core/fsm"
)

// linkWatch follows link state and tells each instance when its own
// interface or a tracked one goes down or comes back.
type linkWatch struct {
	e     *Engine
	links Links
	once  sync.Once
	done  chan struct{}
	mu    sync.Mutex
	up    map[string]bool
}

func newLinkWatch(e *Engine, links Links) *linkWatch {
	return &linkWatch{e: e, links: links, done: make(chan struct{}), up: map[string]bool{}}
}

// start subscribes once; later calls do nothing.
func (w *linkWatch) start() {
	w.once.Do(func() {
		failed := func(err error) {
			select {
			case <-w.done: // the socket was closed by the stop: not an error
			default:
				w.e.log.Warn("link monitor error", "error", err)
			}
		}
		if err := w.links.Watch(w.done, w.set, failed); err != nil {
			w.e.log.Error("cannot monitor interfaces; link state changes will not move instances", "error", err)
		}
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
// is FAULT (unless told to ignore it); a tracked interface applies its
// weight, or FAULT.
func (in *instance) linkChanged(now time.Time, name string, up bool) {
	why := fmt.Sprintf("interface %s is %s", name, map[bool]string{true: "up", false: "down"}[up])
	if name == in.cfg.Interface && !in.cfg.IgnoreOwnInterface {
		in.setFault(now, fsm.FaultInterface, name, !up, why)
	}
	for _, t := range in.cfg.TrackIfs {
		if t.Name != name {
			continue
		}
		src := "interface " + name
		if t.Fault {
			src = name // one fault source per interface, the instance's own included
		}
		in.track(now, fsm.FaultInterface, src, t.Source(), !up, why)
	}
}

// initialLinks applies the current state of the instance's interfaces at
// start, before the first event can arrive.
func (in *instance) initialLinks(now time.Time) {
	in.linkChanged(now, in.cfg.Interface, in.env.linkUp(in.cfg.Interface))
	for _, t := range in.cfg.TrackIfs {
		in.linkChanged(now, t.Name, in.env.linkUp(t.Name))
	}
}

func (w *linkWatch) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
}
