// Package engine runs a node's VRRP instances on one event loop, tying the
// pure state machine (core/fsm) to the sockets (core/transport) and the
// virtual addresses (core/vip), and applying policy reloads in place.
package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/firewall"
	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/core/statefile"
	"github.com/vigil-ha/vigil/core/transport"
	"github.com/vigil-ha/vigil/core/vip"
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

// Transition is a state change, for notifiers.
type Transition struct {
	Instance string
	From, To string
	Reason   string
	At       time.Time
}

// Options configure an Engine.
type Options struct {
	Log hclog.Logger
	// StateDir holds the record of VIPs this node added, so that a restart
	// after a crash removes what the crashed run left behind.
	StateDir string
	// OnTransition is called on the instance's goroutine for every state
	// change; it must not block.
	OnTransition func(Transition)

	// The kernel, as the engine reaches it; nil means the real one (raw
	// sockets, netlink, packet sockets) in the caller's network namespace.
	Adverts   Adverts
	Addresses Addresses
	Announcer Announcer
	Links     Links
	Firewall  Firewall
	VMACs     VMACs
}

// Engine runs the instances of one node.
type Engine struct {
	log              hclog.Logger
	adverts          Adverts
	announcer        Announcer
	nl               Addresses
	vips             *vipTable
	onTransition     func(Transition)
	now              func() time.Time
	startupDelay     time.Duration
	checkAdvertAddrs bool

	links *linkWatch

	fw       Firewall
	fwDrops  []netip.Addr // what the firewall drops now (accept mode off)
	fwRecord string       // marks, in the state directory, that rules may exist
	vmacs    *vmacTable
	// primaryAddr finds an interface's advert source (transport.PrimaryAddr).
	primaryAddr func(ifname string, v6 bool) (netip.Addr, error)

	// The loop and what it owns.
	work chan func(now time.Time)
	// pkts holds adverts the loop has not taken yet. 1024 is 200 ms of 255
	// instances hearing two peers at 100 ms, far longer than the loop
	// stalls; a full queue drops and counts.
	pkts      chan packetFor
	quit      chan struct{}
	loopDone  chan struct{}
	timers    deadlines
	instances map[string]*instance
	order     []string
	heard     map[netip.Addr]heard // senders of valid adverts, for fast handover
	syncing   bool                 // carrying a change through a sync group
	shutdown  sync.Once
}

// New returns an engine with no instance running. It opens its netlink
// socket in the caller's network namespace.
func New(opts Options) (*Engine, error) {
	log := opts.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.Addresses == nil {
		nl, err := vip.NewConfigurer()
		if err != nil {
			return nil, err
		}
		opts.Addresses = nl
	}
	if opts.Adverts == nil {
		opts.Adverts = poolAdverts{transport.NewPool()}
	}
	if opts.Announcer == nil {
		opts.Announcer = vip.NewAnnouncer()
	}
	if opts.Links == nil {
		opts.Links = netlinkLinks{}
	}
	if opts.Firewall == nil {
		opts.Firewall = &firewall.Tables{Restored: func(err error) {
			if err != nil {
				log.Error("accept mode rules were removed by someone else and could not be put back", "table", "inet "+firewall.Table, "error", err)
				return
			}
			log.Warn("accept mode rules were removed by someone else (nft flush ruleset?); put back", "table", "inet "+firewall.Table)
		}}
	}
	if opts.VMACs == nil {
		opts.VMACs = kernelVMACs{}
	}
	e := &Engine{log: log, adverts: opts.Adverts, announcer: opts.Announcer, nl: opts.Addresses,
		vips: newVIPTable(opts.Addresses, opts.StateDir, log), onTransition: opts.OnTransition, now: time.Now,
		instances: map[string]*instance{}, heard: map[netip.Addr]heard{},
		work: make(chan func(time.Time)), pkts: make(chan packetFor, 1024),
		quit: make(chan struct{}), loopDone: make(chan struct{}), fw: opts.Firewall,
		vmacs: newVMACTable(opts.VMACs, opts.StateDir, log), primaryAddr: transport.PrimaryAddr}
	if opts.StateDir != "" {
		e.fwRecord = filepath.Join(opts.StateDir, firewallRecord)
	}
	e.links = newLinkWatch(e, opts.Links)
	go e.loop()
	return e, nil
}

// Apply makes the running instances match cfg. Instances whose settings did
// not change keep running untouched (no transition, no packet lost); an
// instance whose only change is its VIP set updates its addresses in place;
// any other change restarts that instance alone. On error the instances
// already running stay as they were.
func (e *Engine) Apply(cfg *policy.Config) error {
	e.links.start()
	var err error
	e.do(func(now time.Time) { err = e.apply(now, cfg) })
	return err
}

func (e *Engine) apply(now time.Time, cfg *policy.Config) error {
	if err := e.acceptMode(cfg); err != nil {
		return err
	}
	e.startupDelay, e.checkAdvertAddrs = cfg.StartupDelay, cfg.CheckAdvertAddrs
	want := map[string]policy.Instance{}
	var order []string
	for _, in := range cfg.Instances {
		want[in.Name] = in
		order = append(order, in.Name)
	}
	// Stop what is gone or changed beyond its VIPs first, so that a VRID
	// moving between instances is free when the new one registers it.
	for name, in := range e.instances {
		nc, keep := want[name]
		switch {
		case !keep:
			e.log.Info(name + " removed from policy, stopping")
			in.shutdown(now)
			delete(e.instances, name)
		case reflect.DeepEqual(in.cfg, nc):
		case sameButVIPs(in.cfg, nc):
			e.log.Info(name + " VIPs changed, updating in place")
			in.updateVIPs(nc)
			e.fix(in)
		default:
			e.log.Info(name + " settings changed, restarting it")
			in.shutdown(now)
			delete(e.instances, name)
		}
	}
	var errs []error
	var started []*instance
	for _, name := range order {
		if _, running := e.instances[name]; running {
			continue
		}
		in, err := newInstance(e, want[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.instances[name] = in
		started = append(started, in)
	}
	e.vips.commit() // the new instances' VIPs are on record before any is added
	// Each instance starts now, not when this apply began: opening sockets
	// and reading addresses for many instances can take longer than a
	// master-down interval, and a backup's timer must run from when it can
	// hear adverts.
	for _, in := range started {
		in.start(e.now())
	}
	e.order = order
	if len(errs) > 0 {
		return fmt.Errorf("starting instances: %v", errs)
	}
	return nil
}

func sameButVIPs(a, b policy.Instance) bool {
	a.VIPs, a.ExcludedVIPs, b.VIPs, b.ExcludedVIPs = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

// updateVIPs swaps the VIP set of a running instance; a master removes the
// addresses that went, adds the new ones and announces them.
func (in *instance) updateVIPs(nc policy.Instance) {
	old := slices.Clone(in.vips)
	in.cfg = nc
	in.setVIPs(nc)
	in.e.vips.commit()
	var gone []vip.Addr
	for _, a := range old {
		if !slices.Contains(in.vips, a) {
			gone = append(gone, a)
		}
	}
	defer in.e.vips.unclaim(gone)
	if in.m.State() != fsm.Master {
		return
	}
	for _, a := range gone {
		if err := in.e.vips.remove(a); err != nil {
			in.log.Error(in.cfg.Name+" cannot remove VIP", "vip", a.Prefix, "error", err)
		}
	}
	in.addVIPs()
	logSent := in.announce()
	in.send(in.m.Priority())
	logSent()
}

// Shutdown stops every instance: masters send priority 0 and remove their
// VIPs (RFC 5798 §6.4.3), then sockets close and the loop ends.
func (e *Engine) Shutdown() { e.shutdown.Do(e.stop) }

func (e *Engine) stop() {
	e.links.stop()
	e.do(func(now time.Time) {
		for _, name := range e.order {
			if in, ok := e.instances[name]; ok {
				in.shutdown(now)
				delete(e.instances, name)
			}
		}
	})
	select {
	case <-e.quit:
	default:
		close(e.quit)
	}
	<-e.loopDone
	if len(e.fwDrops) > 0 {
		if err := e.fw.Close(); err != nil {
			e.log.Error("cannot remove the accept mode rules", "table", "inet "+firewall.Table, "error", err)
		} else {
			e.forgetFirewall()
		}
	}
	e.announcer.Close()
	e.vips.release()
	e.nl.Close()
}

// acceptMode has the firewall drop packets to the VIPs of instances that
// do not accept (RFC 5798 Accept_Mode off) before any of them can become
// master. A node whose instances all accept never touches nftables.
func (e *Engine) acceptMode(cfg *policy.Config) error {
	var drops []netip.Addr
	for _, in := range cfg.Instances {
		if in.Accept {
			continue
		}
		for _, v := range append(slices.Clone(in.VIPs), in.ExcludedVIPs...) {
			drops = append(drops, v.Prefix.Addr())
		}
	}
	slices.SortFunc(drops, func(a, b netip.Addr) int { return a.Compare(b) })
	drops = slices.Compact(drops)
	if slices.Equal(drops, e.fwDrops) {
		return nil
	}
	// Recorded before the rules exist, forgotten once they are gone: the
	// next start removes the table only after a run that may have made it,
	// and never reaches nftables otherwise.
	if len(drops) > 0 && e.fwRecord != "" {
		if err := statefile.WriteAtomic(e.fwRecord, []byte(bootID()+"\n")); err != nil {
			return fmt.Errorf("accept mode: record: %w", err)
		}
	}
	if err := e.fw.Drop(drops); err != nil {
		return fmt.Errorf("accept mode: %w", err)
	}
	e.fwDrops = drops
	if len(drops) == 0 {
		e.forgetFirewall()
	}
	if len(drops) > 0 {
		e.log.Info("accept mode off: dropping packets to VIPs this node does not own", "vips", len(drops), "table", "inet "+firewall.Table)
	} else {
		e.log.Info("accept mode on for every instance: nftables table removed", "table", "inet "+firewall.Table)
	}
	return nil
}

// firewallRecord marks that this node may have accept mode rules.
const firewallRecord = "accept-mode"

func (e *Engine) forgetFirewall() {
	if e.fwRecord == "" {
		return
	}
	if err := os.Remove(e.fwRecord); err != nil && !errors.Is(err, os.ErrNotExist) {
		e.log.Warn("cannot remove the accept mode record", "path", e.fwRecord, "error", err)
	}
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

// SetCheck applies a check's state to every instance that tracks it, by
// the same rules as an interface's: its weight, or FAULT.
func (e *Engine) SetCheck(check string, failing bool, why string) {
	e.eachTrack(check, func(now time.Time, in *instance, t policy.TrackCheck) {
		in.track(now, fsm.FaultCheck, "check "+check, t.Source(), failing, why)
	})
}

// SetCheckValue weighs the number a valued check read (keepalived's
// track_file) on every instance that tracks it (priority.Source.Valued).
func (e *Engine) SetCheckValue(check string, value int64, why string) {
	e.eachTrack(check, func(now time.Time, in *instance, t policy.TrackCheck) {
		in.trackValue(now, fsm.FaultCheck, "check "+check, t.Source(), value, why)
	})
}

// eachTrack runs apply, on the loop, for every instance's track of check,
// in policy order, and settles each instance after.
func (e *Engine) eachTrack(check string, apply func(now time.Time, in *instance, t policy.TrackCheck)) {
	e.do(func(now time.Time) {
		for _, name := range e.order {
			in, ok := e.instances[name]
			if !ok {
				continue
			}
			for _, t := range in.cfg.Track {
				if t.Check == check {
					apply(now, in, t)
					e.fix(in)
				}
			}
		}
	})
}

// ClearCheck lifts whatever a check applied to any instance (the check
// was removed or replaced).
func (e *Engine) ClearCheck(check string) {
	e.do(func(now time.Time) {
		src := "check " + check
		for _, in := range e.instances {
			if _, weighs := in.deltas[src]; weighs {
				in.setDelta(now, src, 0)
			}
			if in.faults[fsm.FaultCheck][src] {
				in.setFault(now, fsm.FaultCheck, src, false, "check "+check+" removed")
			}
			e.fix(in)
		}
	})
}

// SetFault holds (on) or releases instance in FAULT on behalf of source
// (a check with weight 0, an action that yielded); it leaves FAULT when no
// source holds it any more.
func (e *Engine) SetFault(name string, r fsm.FaultReason, source string, on bool, why string) error {
	return e.onInstance(name, func(now time.Time, in *instance) { in.setFault(now, r, source, on, why) })
}

// onInstance runs f for the named instance on the loop.
func (e *Engine) onInstance(name string, f func(time.Time, *instance)) error {
	var err error
	e.do(func(now time.Time) {
		in, ok := e.instances[name]
		if !ok {
			err = fmt.Errorf("no instance %q", name)
			return
		}
		f(now, in)
		e.fix(in)
	})
	return err
}
