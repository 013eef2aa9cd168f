package engine

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Status is one instance's live state, as `vigil status` shows it.
type Status struct {
	Name           string    `json:"name"`
	State          string    `json:"state"`
	Since          time.Time `json:"since"`
	Interface      string    `json:"interface"`
	VMAC           string    `json:"vmac,omitempty"` // the virtual MAC interface (use_vmac)
	VRID           uint8     `json:"vrid"`
	Priority       uint8     `json:"priority"`
	BasePriority   uint8     `json:"base_priority"`
	Master         string    `json:"master,omitempty"`
	MasterPriority uint8     `json:"master_priority,omitempty"`
	VIPs           []string  `json:"vips"`
	// Auth is how adverts are authenticated: "none", "pass", or
	// "hmac MODE key ID" (never a secret).
	Auth string `json:"auth"`
	// Tracking is each tracked check ("check NAME") and interface
	// ("interface NAME") with its state and what it does when down.
	Tracking    map[string]TrackState `json:"tracking,omitempty"`
	Transitions int                   `json:"transitions"`
	// LastTakeover is how long the last takeover took, from its event to
	// addresses on and first advert out.
	LastTakeover time.Duration     `json:"last_takeover_ns,omitempty"`
	Counters     map[string]uint64 `json:"counters"`
}

// TrackState is a tracked source as the status shows it.
type TrackState struct {
	Down bool `json:"down"`
	// Weight is the source's weight: subtracted while down if negative,
	// added while up if positive; for a valued source (a track file) the
	// delta its number gives now. Fault: FAULT instead of weighing.
	Weight int  `json:"weight"`
	Fault  bool `json:"fault,omitempty"`
}

// State is "down" or "up", as status shows it.
func (t TrackState) State() string {
	if t.Down {
		return "down"
	}
	return "up"
}

// Effect is what the source does while down: "weight -10" or "FAULT".
func (t TrackState) Effect() string {
	if t.Fault {
		return "FAULT"
	}
	return fmt.Sprintf("weight %+d", t.Weight)
}

// Transition is a state change, for notifiers, or, with PriorityChange,
// a change of effective priority in state To (From is To).
type Transition struct {
	Instance string
	From, To string
	Reason   string
	At       time.Time
	// Priority is the effective priority then, as keepalived's notify
	// scripts and FIFO get it.
	Priority       uint8
	PriorityChange bool
}

// Status lists every instance in policy order.
func (e *Engine) Status() []Status {
	var out []Status
	e.do(func(time.Time) {
		for _, name := range e.order {
			if in, ok := e.instances[name]; ok {
				out = append(out, in.snapshot())
			}
		}
	})
	return out
}

// snapshot copies the instance's status for a reader off the loop.
func (in *instance) snapshot() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.status
	s.VIPs = slices.Clone(in.status.VIPs)
	s.Tracking = maps.Clone(in.status.Tracking)
	s.Counters = make(map[string]uint64, len(in.status.Counters))
	for k, v := range in.status.Counters {
		s.Counters[k] = v
	}
	return s
}
