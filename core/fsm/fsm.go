// Package fsm is the VRRP state machine of RFC 5798 §6 (and RFC 3768 §6) as a
// pure value: events and the current time go in, actions come out. It opens
// no sockets, starts no goroutines and reads no clock; the engine does that.
package fsm

import (
	"github.com/vigil-ha/vigil/core/priority"

	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-ha/vigil/core/vrrp"
)

// State is a VRRP router state. Fault is keepalived's: the instance is held
// down (interface down, a failed check with weight 0, or yielded) and neither
// advertises nor owns addresses.
type State uint8

const (
	Init State = iota
	Backup
	Master
	Fault
)

func (s State) String() string {
	switch s {
	case Init:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	case Fault:
		return "FAULT"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ParseState is the State whose String is s.
func ParseState(s string) (State, bool) {
	for _, st := range []State{Init, Backup, Master, Fault} {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// Config is what the state machine needs of an instance's configuration.
type Config struct {
	Version vrrp.Version
	// Priority is the initial effective priority, 1-255 (255: address owner).
	Priority uint8
	// Interval is our advertisement interval.
	Interval time.Duration
	// Preempt lets a higher-priority backup take over from a lower master
	// (RFC 5798 Preempt_Mode; keepalived's default; nopreempt clears it).
	Preempt bool
	// PreemptDelay holds off preemption after startup or after first seeing
	// a lower-priority master (keepalived's preempt_delay).
	PreemptDelay time.Duration
	// StartupDelay keeps the instance in Init before it starts (keepalived's
	// vrrp_startup_delay).
	StartupDelay time.Duration
	// PrimaryAddr is our source address; it breaks ties of equal priority.
	PrimaryAddr netip.Addr
	// Standalone is an instance with no election (BGP health mode): it is
	// Master whenever no fault holds it, sends no advert and no
	// gratuitous ARP/NA, and leaves Master only for Fault or Init.
	Standalone bool
	// GARPDelay is when the second gratuitous ARP/NA burst follows the first
	// after becoming master (keepalived's garp_master_delay; 0: no second burst).
	GARPDelay time.Duration
	// GARPRefresh repeats gratuitous ARP/NA while master (0: off).
	GARPRefresh time.Duration
}

// Kind says what an Action asks the engine to do.
type Kind uint8

const (
	// SendAdvert: send an advert with Priority (0 when resigning).
	SendAdvert Kind = iota + 1
	// AddVIPs: configure the virtual addresses.
	AddVIPs
	// RemoveVIPs: remove the virtual addresses.
	RemoveVIPs
	// SendGratuitous: send gratuitous ARP / unsolicited NA for every VIP.
	SendGratuitous
	// Transition: the state changed From -> To because of Reason.
	Transition
)

func (k Kind) String() string {
	return [...]string{"?", "send-advert", "add-vips", "remove-vips", "send-gratuitous", "transition"}[k]
}

// Action is one thing the engine must do, in the order returned.
type Action struct {
	Kind     Kind
	Priority uint8      // SendAdvert
	Dst      netip.Addr // SendAdvert: to this router alone (invalid: as configured)
	From, To State      // Transition
	Reason   string
}

func (a Action) String() string {
	switch a.Kind {
	case SendAdvert:
		if a.Dst.IsValid() {
			return fmt.Sprintf("send-advert(%d to %v)", a.Priority, a.Dst)
		}
		return fmt.Sprintf("send-advert(%d)", a.Priority)
	case Transition:
		return fmt.Sprintf("%v->%v", a.From, a.To)
	}
	return a.Kind.String()
}

// Advert is what the state machine needs of a received advert that already
// passed vrrp.Unmarshal and vrrp.Verify.
type Advert struct {
	Src      netip.Addr
	Priority uint8
	Interval time.Duration
}

// FaultReason is a bit set of reasons an instance is held in Fault.
type FaultReason uint8

const (
	FaultInterface FaultReason = 1 << iota // the VRRP or a tracked interface is down
	FaultCheck                             // a check with weight 0 is failing
	FaultYield                             // an action yielded the instance
	FaultSync                              // another instance of its sync group is in Fault
)

// Machine is one VRRP instance's protocol state. Methods return the actions
// to carry out; the returned slice is reused by the next call.
type Machine struct {
	cfg   Config
	state State
	prio  uint8
	fault FaultReason

	masterAdverInterval time.Duration
	masterAddr          netip.Addr // the master we last accepted, for status
	masterPrio          uint8
	lowerPrio           int // priority of a lower master we are preempting, -1 if none
	resigned            bool
	// successor: the site policy makes us the next master should the
	// current one resign or degrade (see SetSuccessor).
	successor bool

	startAt, downAt, adverAt, garpAt, preemptAt time.Time
	// reassertAt: a master answers another master's lower-priority advert
	// at most once per interval, so that a flood of them cannot make it
	// flood the segment.
	reassertAt time.Time

	out []Action
}

// New returns a machine in Init; call Start to begin.
func New(cfg Config) *Machine {
	return &Machine{cfg: cfg, prio: cfg.Priority, masterAdverInterval: cfg.Interval, lowerPrio: -1, out: make([]Action, 0, 8)}
}

// State is the current state.
func (m *Machine) State() State { return m.state }

// Priority is the current effective priority.
func (m *Machine) Priority() uint8 { return m.prio }

// Faults is the set of reasons the instance is held in Fault.
func (m *Machine) Faults() FaultReason { return m.fault }

// Master is the address and priority of the master last accepted in Backup.
func (m *Machine) Master() (netip.Addr, uint8) { return m.masterAddr, m.masterPrio }

// SkewTime is RFC 5798 §6.1 Skew_Time for our priority. VRRPv2 (RFC 3768)
// and keepalived use whole seconds: (256 - priority) / 256 s.
func (m *Machine) SkewTime() time.Duration {
	if m.cfg.Version == vrrp.V2 {
		return time.Duration(256-int(m.prio)) * time.Second / 256
	}
	return time.Duration(256-int(m.prio)) * m.masterAdverInterval / 256
}

// MasterDownInterval is RFC 5798 §6.1: 3 × Master_Adver_Interval + Skew_Time.
func (m *Machine) MasterDownInterval() time.Duration {
	return 3*m.masterAdverInterval + m.SkewTime()
}

// Deadline is the earliest pending timer, or the zero time if none runs.
// The engine calls Tick at (or after) it.
func (m *Machine) Deadline() time.Time {
	var d time.Time
	for _, t := range [...]time.Time{m.startAt, m.downAt, m.adverAt, m.garpAt} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

func (m *Machine) emit(a Action) { m.out = append(m.out, a) }

func (m *Machine) reset() []Action {
	m.out = m.out[:0]
	return m.out
}

func (m *Machine) transition(to State, reason string) {
	m.emit(Action{Kind: Transition, From: m.state, To: to, Reason: reason})
	m.state = to
}

func (m *Machine) stopTimers() {
	m.startAt, m.downAt, m.adverAt, m.garpAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
}

// Start begins the instance: at once, or after the startup delay (§6.4.1).
func (m *Machine) Start(now time.Time) []Action {
	m.reset()
	if m.state != Init {
		return m.out
	}
	if m.cfg.StartupDelay > 0 {
		m.startAt = now.Add(m.cfg.StartupDelay)
		return m.out
	}
	m.startup(now)
	return m.out
}

// startup is RFC 5798 §6.4.1 on the Startup event.
func (m *Machine) startup(now time.Time) {
	m.startAt = time.Time{}
	if m.cfg.PreemptDelay > 0 {
		m.preemptAt = now.Add(m.cfg.PreemptDelay)
	}
	if m.fault != 0 {
		m.transition(Fault, "startup with a fault")
		return
	}
	switch {
	case m.cfg.Standalone:
		m.becomeMaster(now, "healthy at startup")
		return
	case m.prio == priority.Owner:
		m.becomeMaster(now, "address owner (priority 255)")
		return
	}
	m.enterBackup(now, "startup")
}

func (m *Machine) enterBackup(now time.Time, reason string) {
	m.masterAdverInterval = m.cfg.Interval
	m.masterAddr, m.masterPrio, m.lowerPrio, m.resigned = netip.Addr{}, 0, -1, false
	m.stopTimers()
	m.downAt = now.Add(m.MasterDownInterval())
	m.transition(Backup, reason)
}

func (m *Machine) becomeMaster(now time.Time, reason string) {
	m.stopTimers()
	m.masterAddr, m.masterPrio = netip.Addr{}, 0
	m.transition(Master, reason)
	// The addresses go on before the first advert says this router is
	// master, as keepalived does: a client is served once the address is
	// up, and the advert then costs the takeover nothing.
	m.emit(Action{Kind: AddVIPs})
	if m.cfg.Standalone {
		return
	}
	m.emit(Action{Kind: SendAdvert, Priority: m.prio})
	m.emit(Action{Kind: SendGratuitous})
	m.adverAt = now.Add(m.cfg.Interval)
	if m.cfg.GARPDelay > 0 {
		m.garpAt = now.Add(m.cfg.GARPDelay)
	} else if m.cfg.GARPRefresh > 0 {
		m.garpAt = now.Add(m.cfg.GARPRefresh)
	}
}

func (m *Machine) leaveMaster(now time.Time, to State, reason string) {
	m.emit(Action{Kind: RemoveVIPs})
	if to == Backup {
		m.enterBackup(now, reason)
		return
	}
	m.stopTimers()
	m.transition(to, reason)
}

// Tick fires every timer due at now.
func (m *Machine) Tick(now time.Time) []Action {
	m.reset()
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	if due(m.startAt) {
		m.startup(now)
	}
	if m.state == Backup && due(m.downAt) {
		reason := "master down timer expired"
		switch {
		case m.resigned:
			reason = "master resigned (priority 0)"
		case m.lowerPrio >= 0:
			reason = fmt.Sprintf("preempting lower priority master %d, ours %d", m.lowerPrio, m.prio)
		}
		m.becomeMaster(now, reason)
		return m.out
	}
	if m.state == Master {
		if due(m.adverAt) {
			m.emit(Action{Kind: SendAdvert, Priority: m.prio})
			m.adverAt = now.Add(m.cfg.Interval)
		}
		if due(m.garpAt) {
			m.emit(Action{Kind: SendGratuitous})
			m.garpAt = time.Time{}
			if m.cfg.GARPRefresh > 0 {
				m.garpAt = now.Add(m.cfg.GARPRefresh)
			}
		}
	}
	return m.out
}

// Advert handles a received advert that passed the wire checks (§6.4.2, §6.4.3).
func (m *Machine) Advert(now time.Time, adv Advert) []Action {
	m.reset()
	if m.cfg.Standalone {
		return m.out
	}
	switch m.state {
	case Backup:
		m.backupAdvert(now, adv)
	case Master:
		m.masterAdvert(now, adv)
	}
	return m.out
}

func (m *Machine) backupAdvert(now time.Time, adv Advert) {
	if adv.Priority == 0 {
		if m.successor {
			// Skew_Time only orders the backups' takeovers; the site
			// policy has already ordered them.
			m.becomeMaster(now, "master resigned (priority 0), successor by site policy")
			return
		}
		// §6.4.2: the master resigned; take over after Skew_Time.
		m.resigned = true
		m.downAt = now.Add(m.SkewTime())
		return
	}
	lower := adv.Priority < m.prio
	holdOff := m.cfg.PreemptDelay > 0 && (m.preemptAt.IsZero() || now.Before(m.preemptAt))
	if lower && m.cfg.Preempt && !holdOff {
		if m.successor && adv.Src == m.masterAddr && m.masterPrio >= m.prio {
			// The master we accepted has fallen below us: preempt now
			// rather than when Master_Down_Timer runs out.
			m.becomeMaster(now, fmt.Sprintf("master priority fell to %d, ours %d, successor by site policy", adv.Priority, m.prio))
			return
		}
		// §6.4.2: preempt mode and a lower master: discard, let the timer run out.
		m.lowerPrio = int(adv.Priority)
		return
	}
	if m.cfg.PreemptDelay > 0 {
		if !lower {
			m.preemptAt = time.Time{}
		} else if m.preemptAt.IsZero() {
			m.preemptAt = now.Add(m.cfg.PreemptDelay)
		}
	}
	if m.cfg.Version == vrrp.V3 && adv.Interval > 0 {
		m.masterAdverInterval = adv.Interval
	}
	m.masterAddr, m.masterPrio, m.lowerPrio, m.resigned = adv.Src, adv.Priority, -1, false
	m.downAt = now.Add(m.MasterDownInterval())
}

func (m *Machine) masterAdvert(now time.Time, adv Advert) {
	switch {
	case adv.Priority == 0 && now.Before(m.reassertAt):
		// Answered within this interval already.
	case adv.Priority == 0:
		// §6.4.3: another master resigned; assert ourselves at once. Hosts
		// may have its MAC for our addresses (it is the loser of a split
		// brain stepping down): announce them again.
		m.emit(Action{Kind: SendAdvert, Priority: m.prio, Reason: "received priority 0 advert"})
		m.emit(Action{Kind: SendGratuitous, Reason: "received priority 0 advert"})
		m.adverAt = now.Add(m.cfg.Interval)
		m.reassertAt = now.Add(m.cfg.Interval)
	case adv.Priority > m.prio:
		m.stepDown(now, adv, fmt.Sprintf("received advert with higher priority %d, ours %d", adv.Priority, m.prio))
	case priority.Outranks(adv.Priority, adv.Src, m.prio, m.cfg.PrimaryAddr):
		m.stepDown(now, adv, fmt.Sprintf("received advert with equal priority %d from higher address %v", adv.Priority, adv.Src))
	case now.Before(m.reassertAt):
		// Answered within this interval already: discard, as §6.4.3 says.
	default:
		// §6.4.3 says discard. Another master below us means the two of
		// us were cut apart (split brain) and now hear each other again:
		// re-advertise at once so that it stands down sooner, and announce
		// the addresses again so that hosts which learned its MAC while we
		// were apart come back to us now, not when their ARP entry
		// expires (keepalived needs vrrp_garp_lower_prio_repeat for it).
		reason := fmt.Sprintf("received lower priority advert %d from %v, ours %d, forcing new election", adv.Priority, adv.Src, m.prio)
		m.emit(Action{Kind: SendAdvert, Priority: m.prio, Reason: reason})
		m.emit(Action{Kind: SendGratuitous, Reason: reason})
		m.adverAt = now.Add(m.cfg.Interval)
		m.reassertAt = now.Add(m.cfg.Interval)
	}
}

func (m *Machine) stepDown(now time.Time, adv Advert, reason string) {
	// Two masters: we were cut apart and hear each other again, or the
	// other preempts us. Hosts may have our MAC for the addresses; tell
	// the new master alone (priority 0 to it, not to the group, which
	// would make backups take over) so that it announces them again.
	m.leaveMaster(now, Backup, reason)
	m.emit(Action{Kind: SendAdvert, Priority: 0, Dst: adv.Src, Reason: "stepped down for " + adv.Src.String()})
	if m.cfg.Version == vrrp.V3 && adv.Interval > 0 {
		m.masterAdverInterval = adv.Interval
		m.downAt = now.Add(m.MasterDownInterval())
	}
	m.masterAddr, m.masterPrio = adv.Src, adv.Priority
}

// SetPriority changes the effective priority (checks added or removed weight).
// A master advertises the new priority at once, so peers learn it within one
// packet rather than one interval.
func (m *Machine) SetPriority(now time.Time, p uint8) []Action {
	m.reset()
	if p == m.prio {
		return m.out
	}
	old := m.prio
	m.prio = p
	if m.state == Master && !m.cfg.Standalone {
		m.emit(Action{Kind: SendAdvert, Priority: p, Reason: fmt.Sprintf("priority changed from %d to %d", old, p)})
		m.adverAt = now.Add(m.cfg.Interval)
	}
	return m.out
}

// SetSuccessor says whether the site policy makes this instance the next
// master when the current one resigns (priority 0) or advertises a
// priority below ours: it then takes over at once instead of after
// Skew_Time or Master_Down_Interval. The engine sets it before each advert
// it delivers, from the sender and the policy; plain VRRP never sets it.
func (m *Machine) SetSuccessor(on bool) { m.successor = on }

// Resign hands mastership over now: a master sends priority 0 and removes
// its addresses (as on shutdown, §6.4.3) but stays in the election as a
// backup with its current priority and a full Master_Down_Interval, so
// that it takes the addresses back only if no one else does. The engine
// calls it when its priority has fallen below a backup known to be alive.
func (m *Machine) Resign(now time.Time, reason string) []Action {
	m.reset()
	if m.state != Master || m.cfg.Standalone {
		return m.out
	}
	m.emit(Action{Kind: SendAdvert, Priority: 0, Reason: reason})
	m.leaveMaster(now, Backup, reason)
	return m.out
}

// SyncMaster follows another instance of the sync group into Master: a
// backup takes over at once (keepalived's vrrp_sync_group). Other states
// are left alone.
func (m *Machine) SyncMaster(now time.Time, reason string) []Action {
	m.reset()
	if m.state == Backup {
		m.becomeMaster(now, reason)
	}
	return m.out
}

// SetFault raises (on) or clears one fault reason. The instance is in Fault
// while any reason is raised; a master leaving for Fault resigns with a
// priority 0 advert so backups take over after Skew_Time.
func (m *Machine) SetFault(now time.Time, r FaultReason, on bool, reason string) []Action {
	m.reset()
	was := m.fault
	if on {
		m.fault |= r
	} else {
		m.fault &^= r
	}
	switch {
	case was == 0 && m.fault != 0:
		switch m.state {
		case Master:
			if !m.cfg.Standalone {
				m.emit(Action{Kind: SendAdvert, Priority: 0, Reason: reason})
			}
			m.leaveMaster(now, Fault, reason)
		case Backup:
			m.stopTimers()
			m.transition(Fault, reason)
		}
	case was != 0 && m.fault == 0 && m.state == Fault:
		if m.prio == priority.Owner || m.cfg.Standalone {
			m.becomeMaster(now, reason)
		} else {
			m.enterBackup(now, reason)
		}
	}
	return m.out
}

// Shutdown stops the instance (§6.4.2, §6.4.3): a master sends priority 0 and
// removes its addresses.
func (m *Machine) Shutdown(now time.Time) []Action {
	m.reset()
	switch m.state {
	case Master:
		if !m.cfg.Standalone {
			m.emit(Action{Kind: SendAdvert, Priority: 0, Reason: "shutdown"})
		}
		m.leaveMaster(now, Init, "shutdown")
	case Backup, Fault:
		m.stopTimers()
		m.transition(Init, "shutdown")
	default:
		m.stopTimers()
	}
	return m.out
}
