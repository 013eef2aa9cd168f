package engine

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/priority"
	"github.com/vigil-ha/vigil/core/transport"
	"github.com/vigil-ha/vigil/core/vip"
	"github.com/vigil-ha/vigil/core/vrrp"
)

// instance is one VRRP instance. Its state machine and everything below
// "loop-owned" are touched only on the engine's loop.
type instance struct {
	cfg   config.Instance
	env   *instanceEnv
	log   hclog.Logger
	m     *fsm.Machine
	ch    Channel
	dsts  []netip.Addr
	group netip.Addr // the multicast group adverts go to and come from
	vips  []vip.Addr
	// awaiting: tracked checks an instance without VRRP waits to hear of
	// before it starts (Engine.knownChecks).
	awaiting map[string]bool

	// loop-owned
	due       time.Time // the state machine's deadline, as the heap knows it
	heapIndex int       // position in the engine's deadline heap, -1 if none
	stopped   bool
	// eventAt is when the event being handled happened; tookOver is set
	// while handling it made this instance master.
	eventAt  time.Time
	tookOver bool

	auth   vrrp.Auth // how its adverts are authenticated (authFor)
	expect vrrp.Expect
	rx     vrrp.Advert
	out    []byte
	deltas map[string]int // weight applied by each tracked source
	// faults holds, per fault reason, the sources raising it: the
	// instance leaves FAULT only when every source has cleared.
	faults  map[fsm.FaultReason]map[string]bool
	lastLog map[string]time.Time
	synced  []fsm.Action // transitions still to carry to the sync group
	notes   []Transition // transitions still to tell the notifiers of

	mu     sync.Mutex
	status Status
}

// instanceEnv is what an instance uses of the node it runs on, and all
// it sees of the engine.
type instanceEnv struct {
	log     hclog.Logger
	now     func() time.Time
	fx      *effects
	vmacs   *vmacTable
	adverts Adverts
	peers   heardTable
	group   syncGroups
	linkUp  func(name string) bool
	// deliver hands a received advert to the loop; notify tells the
	// notifiers of a transition (nil: nobody listens).
	deliver func(*instance, transport.Packet)
	notify  func(Transition)
	// clock is what signed adverts read.
	clock vrrp.Clock
	// primaryAddr finds an interface's advert source (transport.PrimaryAddr).
	primaryAddr func(ifname string, v6 bool) (netip.Addr, error)
	// Set by each apply from the policy.
	startupDelay     time.Duration
	checkAdvertAddrs bool
}

// syncGroups carries an instance's changes to its sync group (the
// engine, which knows the other members).
type syncGroups interface {
	followTransition(now time.Time, in *instance, a fsm.Action)
	syncFaults(now time.Time, in *instance)
}

func newInstance(e *instanceEnv, cfg config.Instance) (*instance, error) {
	// Messages start with the instance name, as keepalived's do, so that
	// "grep 'VI_1 entering MASTER'" finds them; no logger name repeats it.
	in := &instance{cfg: cfg, env: e, log: e.log, heapIndex: -1,
		deltas: map[string]int{}, faults: map[fsm.FaultReason]map[string]bool{}, lastLog: map[string]time.Time{}}
	if cfg.Standalone() {
		in.ch = silent{}
		in.setVIPs(cfg)
		in.m = fsm.New(fsm.Config{Version: cfg.Version, Priority: cfg.Priority, Interval: cfg.Interval, StartupDelay: e.startupDelay, Standalone: true})
		in.status = Status{Name: cfg.Name, State: fsm.Init.String(), Interface: cfg.Interface, Priority: cfg.Priority, BasePriority: cfg.Priority, Auth: cfg.AuthName(), Counters: map[string]uint64{}}
		return in, nil
	}
	ifname, src := cfg.Interface, cfg.SourceAddr
	if cfg.IPv6() && (len(cfg.UnicastPeers) == 0 || !src.Is6()) {
		// IPv6 multicast adverts go from the link-local address (RFC 5798
		// 5.1.2.1); unicast ones from the node's address, which the peers
		// know (keepalived's unicast_src_ip).
		src = netip.Addr{}
	}
	if v, ok := in.vmac(); ok {
		if err := e.vmacs.acquire(v); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Name, err)
		}
		if !cfg.VMACXmitBase {
			// Adverts leave from the virtual MAC; an IPv4 one has no
			// address of its own until it holds the VIPs, so they come
			// from the parent's primary address, as keepalived's do.
			ifname = cfg.VMAC
			if !cfg.IPv6() && !src.IsValid() {
				a, err := e.primaryAddr(cfg.Interface, false)
				if err != nil {
					e.vmacs.release(v)
					return nil, fmt.Errorf("%s: %w", cfg.Name, err)
				}
				src = a
			}
		}
	}
	ch, err := e.adverts.Open(ifname, cfg.IPv6(), src, cfg.VRID, func(p transport.Packet) { e.deliver(in, p) })
	if err != nil {
		if v, ok := in.vmac(); ok {
			e.vmacs.release(v)
		}
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	in.ch = ch
	in.group = cfg.Group
	if !in.group.IsValid() {
		in.group = vrrp.GroupV4
		if cfg.IPv6() {
			in.group = vrrp.GroupV6
		}
	}
	if in.group != vrrp.GroupV4 && in.group != vrrp.GroupV6 {
		if err := ch.Join(in.group); err != nil {
			ch.Close()
			if v, ok := in.vmac(); ok {
				e.vmacs.release(v)
			}
			return nil, fmt.Errorf("%s: %w", cfg.Name, err)
		}
	}
	in.dsts = cfg.UnicastPeers
	if len(in.dsts) == 0 {
		in.dsts = []netip.Addr{in.group}
	}
	in.setVIPs(cfg)
	in.m = fsm.New(fsm.Config{
		Version: cfg.Version, Priority: cfg.Priority, Interval: cfg.Interval,
		Preempt: cfg.Preempt, PreemptDelay: cfg.PreemptDelay, StartupDelay: e.startupDelay,
		PrimaryAddr: ch.Source(), GARPDelay: cfg.GARP.MasterDelay, GARPRefresh: cfg.GARP.MasterRefresh,
	})
	in.status = Status{Name: cfg.Name, State: fsm.Init.String(), Interface: cfg.Interface, VMAC: cfg.VMAC, VRID: cfg.VRID,
		Priority: cfg.Priority, BasePriority: cfg.Priority, Auth: cfg.AuthName(), Counters: map[string]uint64{}}
	for _, v := range cfg.VIPs {
		in.status.VIPs = append(in.status.VIPs, v.Prefix.String())
	}
	return in, nil
}

// vmac is the instance's virtual MAC interface, if it has one.
func (in *instance) vmac() (vip.VMAC, bool) {
	c := in.cfg
	return vip.VMAC{Name: c.VMAC, Parent: c.Interface, VRID: c.VRID, V6: c.IPv6()}, c.VMAC != ""
}

// instanceAddrs are the addresses an instance configures as master: its
// VIPs, then its excluded VIPs, each on its interface.
func instanceAddrs(cfg config.Instance) []vip.Addr {
	var out []vip.Addr
	for _, v := range append(append([]config.VIP(nil), cfg.VIPs...), cfg.ExcludedVIPs...) {
		ifname := v.Interface
		if ifname == "" {
			ifname = cmp.Or(cfg.VMAC, cfg.Interface) // on the virtual MAC, if there is one
		}
		out = append(out, vip.Addr{Prefix: v.Prefix, Label: v.Label, Scope: v.Scope, Interface: ifname})
	}
	return out
}

// setVIPs derives what the instance configures and advertises from cfg.
// Its effects claim the addresses (Engine.apply), before it can add them.
func (in *instance) setVIPs(cfg config.Instance) {
	in.vips = append(in.vips[:0], instanceAddrs(cfg)...)
	var advertised []netip.Addr
	for _, v := range cfg.VIPs {
		advertised = append(advertised, v.Prefix.Addr())
	}
	in.mu.Lock()
	in.status.VIPs = in.status.VIPs[:0]
	for _, v := range cfg.VIPs {
		in.status.VIPs = append(in.status.VIPs, v.Prefix.String())
	}
	in.mu.Unlock()
	in.setAuth(cfg, in.auth)
	in.expect = vrrp.Expect{Version: cfg.Version, Auth: in.auth,
		Interval: cfg.Interval, Addrs: advertised, CheckAddrs: in.env.checkAdvertAddrs, Peers: cfg.UnicastPeers, PeerTTL: cfg.PeerTTL}
}

// mastership is the instance as its effects see it, holding addrs.
func (in *instance) mastership(addrs []vip.Addr) Mastership {
	return Mastership{Instance: &in.cfg, Addrs: addrs, Priority: in.m.Priority()}
}

// whole is the instance as master: its addresses, routes and rules.
func (in *instance) whole() Mastership {
	m := in.mastership(in.vips)
	m.Routes, m.Rules = in.cfg.Routes, in.cfg.Rules
	return m
}

func (in *instance) count(name string) {
	in.mu.Lock()
	in.status.Counters[name]++
	in.mu.Unlock()
}

// logLimited logs msg at most once per key per second (or per advert
// interval, if longer), so that a misconfigured or hostile peer yields a
// line now and then rather than a flood.
func (in *instance) logLimited(now time.Time, key, msg string, args ...any) {
	if last, ok := in.lastLog[key]; ok && now.Sub(last) < max(in.cfg.Interval, time.Second) {
		return
	}
	in.lastLog[key] = now
	in.log.Warn(msg, args...)
}

// start begins the instance on the loop.
func (in *instance) start(now time.Time) {
	in.initialLinks(now)
	in.exec(in.m.Start(now))
}

func (in *instance) packet(now time.Time, p transport.Packet) {
	if p.Dst.IsMulticast() && p.Dst != in.group {
		// The socket is shared: another instance's group, or the RFC's
		// while this one uses its own (keepalived's vrrp_mcast_group4).
		in.count("dropped_group")
		in.logLimited(now, "group", fmt.Sprintf("%s dropped advert sent to another multicast group", in.cfg.Name), "group", p.Dst, "ours", in.group)
		return
	}
	in.count("adverts_received")
	if err := in.rx.Unmarshal(p.Data, p.Src, p.Dst); err != nil {
		in.count("dropped_" + vrrp.Reason(err))
		in.logLimited(now, vrrp.Reason(err), fmt.Sprintf("%s dropped malformed advert from %v", in.cfg.Name, p.Src), "error", err)
		return
	}
	if err := vrrp.Verify(&in.rx, p.Src, p.TTL, &in.expect); err != nil {
		in.count("dropped_" + vrrp.Reason(err))
		in.logLimited(now, vrrp.Reason(err), fmt.Sprintf("%s dropped advert from %v", in.cfg.Name, p.Src), "error", err)
		return
	}
	if in.cfg.Priority == priority.Owner && in.rx.Priority == priority.Owner {
		// RFC 5798 §6.1: one owner per VRID. Two means a misconfiguration
		// or a spoof; the state machine's rules apply, and the node's own
		// address stays whatever they decide (vipTable never removes it).
		in.logLimited(now, "owner_conflict", fmt.Sprintf("%s another router claims to own VRID %d (priority 255)", in.cfg.Name, in.cfg.VRID), "from", p.Src)
	}
	if in.rx.Priority == 0 {
		in.count("priority_zero_received")
	}
	in.env.peers.note(now, in.cfg.Peers, p.Src, in.rx.Priority, in.rx.Interval)
	in.m.SetSuccessor(in.successorTo(p.Src))
	in.eventAt = now
	in.exec(in.m.Advert(now, fsm.Advert{Src: p.Src, Priority: in.rx.Priority, Interval: in.rx.Interval}))
	addr, prio := in.m.Master()
	in.mu.Lock()
	if in.m.State() == fsm.Backup && addr.IsValid() {
		in.status.Master, in.status.MasterPriority = addr.String(), prio
	}
	in.mu.Unlock()
}

// exec carries out the state machine's actions in order.
func (in *instance) exec(actions []fsm.Action) {
	// Log lines are written once the actions are carried out: a line is a
	// write to the log's file, tens of microseconds a takeover's address,
	// advert and gratuitous ARP must not wait for.
	if in.eventAt.IsZero() {
		in.eventAt = in.env.now() // a start, a link or fault change: no earlier event
	}
	var logs []func()
	for _, a := range actions {
		switch a.Kind {
		case fsm.SendAdvert:
			if a.Reason != "" {
				in.log.Debug(in.cfg.Name+" sending advert", "priority", a.Priority, "reason", a.Reason)
			}
			if a.Dst.IsValid() {
				in.sendTo(a.Priority, a.Dst)
			} else {
				in.send(a.Priority)
			}
		case fsm.AddVIPs:
			err := in.env.fx.assert(in.whole())
			logs = append(logs, func() { in.log.Info(in.cfg.Name + " setting protocol VIPs"); in.logEffects(err) })
		case fsm.RemoveVIPs:
			in.log.Info(in.cfg.Name + " removing protocol VIPs")
			in.logEffects(in.env.fx.withdraw(in.whole()))
		case fsm.SendGratuitous:
			logs = append(logs, in.announce())
		case fsm.Transition:
			in.transition(a)
			logs = append(logs, func() { in.log.Info(fmt.Sprintf("%s entering %s state", in.cfg.Name, a.To), "reason", a.Reason) })
		}
	}
	if in.tookOver {
		// From the event (the master-down deadline, or the advert's
		// arrival) to addresses on, advert and announcements out.
		in.tookOver = false
		in.mu.Lock()
		in.status.LastTakeover = max(in.env.now().Sub(in.eventAt), time.Nanosecond)
		in.mu.Unlock()
	}
	in.eventAt = time.Time{}
	for _, l := range logs {
		l()
	}
	// Notifiers hear of transitions once the adverts are out and the
	// addresses are on: waking the dispatcher (a disk write) must not
	// compete with a takeover.
	for _, t := range in.notes {
		in.env.notify(t)
	}
	in.notes = in.notes[:0]
	// The group follows after this machine's actions are all carried out:
	// the members' machines may call back into this one.
	for len(in.synced) > 0 {
		a := in.synced[0]
		in.synced = in.synced[1:]
		in.env.group.followTransition(in.env.now(), in, a)
	}
}

func (in *instance) send(prio uint8) {
	in.sendTo(prio, in.dsts...)
	if prio == 0 {
		in.count("priority_zero_sent")
		in.log.Info(in.cfg.Name + " sent 0 priority")
	}
}

// sendTo sends an advert at prio to each of dsts.
func (in *instance) sendTo(prio uint8, dsts ...netip.Addr) {
	// Signed once: every unicast copy carries the same sequence and HMAC
	// (which covers no destination), as keepalived 2.4.3's do.
	adv := vrrp.Advert{Version: in.cfg.Version, VRID: in.cfg.VRID, Priority: prio, Interval: in.cfg.Interval, Addrs: in.expect.Addrs}
	signErr := in.auth.Sign(&adv, in.ch.Source())
	for _, dst := range dsts {
		var err error
		in.out, err = adv.AppendMarshal(in.out[:0], in.ch.Source(), dst)
		if signErr != nil {
			err = signErr
		}
		if err == nil {
			err = in.ch.Send(in.out, dst)
		}
		if err != nil {
			in.count("send_errors")
			in.logLimited(in.env.now(), "send", fmt.Sprintf("%s cannot send advert to %v", in.cfg.Name, dst), "error", err)
			continue
		}
		in.count("adverts_sent")
	}
}

// logEffects logs, one line each, what the effects could not do.
func (in *instance) logEffects(err error) {
	for _, e := range splitJoined(err) {
		in.log.Error(in.cfg.Name+" "+errors.Unwrap(e).Error(), "effect", effectName(e))
	}
}

// announce has the effects tell the network (gratuitous ARP/NA, sent or
// started when paced) and returns the log line saying so for the caller
// to write.
func (in *instance) announce() (logSent func()) {
	err := in.env.fx.announce(in.mastership(in.vips))
	return func() {
		in.log.Info(fmt.Sprintf("%s sending gratuitous ARP/NA on %s for %d VIPs", in.cfg.Name, in.cfg.Interface, len(in.vips)), "repeat", in.cfg.GARP.MasterRepeat)
		in.logEffects(err)
	}
}

func (in *instance) transition(a fsm.Action) {
	in.mu.Lock()
	in.status.State = a.To.String()
	in.status.Since = in.env.now()
	in.status.Transitions++
	switch {
	case a.To == fsm.Master:
		in.status.Counters["became_master"]++
		in.tookOver = true
	case a.From == fsm.Master:
		in.status.Counters["released_master"]++
	}
	if a.To != fsm.Backup {
		in.status.Master, in.status.MasterPriority = "", 0
	}
	in.mu.Unlock()
	if in.env.notify != nil {
		in.notes = append(in.notes, Transition{Instance: in.cfg.Name, From: a.From.String(), To: a.To.String(), Reason: a.Reason, At: in.env.now(), Priority: in.m.Priority()})
	}
	if in.cfg.SyncGroup != "" {
		in.synced = append(in.synced, a) // carried to the group once exec is done
	}
}

// setDelta records the weight one tracked source applies now (0: none) and
// recomputes the effective priority by the rules of core/priority.
func (in *instance) setDelta(now time.Time, source string, delta int) {
	if delta == 0 {
		delete(in.deltas, source)
	} else {
		in.deltas[source] = delta
	}
	deltas := make([]int, 0, len(in.deltas))
	for _, d := range in.deltas {
		deltas = append(deltas, d)
	}
	p := priority.Effective(in.cfg.Priority, deltas...)
	if p != in.m.Priority() {
		in.log.Info(fmt.Sprintf("%s changing effective priority from %d to %d", in.cfg.Name, in.m.Priority(), p), "source", source)
		if in.cfg.NotifyPriorityChanges && in.env.notify != nil {
			// Noted in the state it changed in, before what it causes.
			st := in.m.State().String()
			in.notes = append(in.notes, Transition{Instance: in.cfg.Name, From: st, To: st, Reason: source, At: now, Priority: p, PriorityChange: true})
		}
	}
	changed := p != in.m.Priority()
	in.exec(in.m.SetPriority(now, p))
	switch {
	case in.m.State() != fsm.Master:
	case in.cfg.Standalone() && changed:
		// No advert carries it: the effects (BGP's route preference)
		// hear the new priority.
		in.logEffects(in.env.fx.assert(in.whole()))
	case !in.cfg.Standalone():
		in.resignIfOutranked(now)
	}
	in.mu.Lock()
	in.status.Priority = p
	in.mu.Unlock()
}

// track applies a tracked source's state: its weight, or FAULT for a
// source that faults (weight 0, or any source of a sync group member).
// Checks and interfaces go through here alike.
func (in *instance) track(now time.Time, r fsm.FaultReason, source string, s priority.Source, down bool, why string) {
	in.mu.Lock()
	if in.status.Tracking == nil {
		in.status.Tracking = map[string]TrackState{}
	}
	in.status.Tracking[source] = TrackState{Down: down, Weight: s.Weight, Fault: s.Fault}
	in.mu.Unlock()
	if s.Fault {
		in.setFault(now, r, source, down, why)
		return
	}
	in.setDelta(now, source, s.Delta(down))
}

// trackValue applies a valued source's number: a delta, or a fault.
func (in *instance) trackValue(now time.Time, r fsm.FaultReason, source string, s priority.Source, value int64, why string) {
	delta, fault := s.Valued(value)
	in.mu.Lock()
	if in.status.Tracking == nil {
		in.status.Tracking = map[string]TrackState{}
	}
	in.status.Tracking[source] = TrackState{Down: fault || delta < 0, Weight: delta, Fault: s.Fault}
	in.mu.Unlock()
	in.setDelta(now, source, delta)
	if fault || in.faults[r][source] {
		in.setFault(now, r, source, fault, why)
	}
}

// setFault raises or clears one source of a fault reason.
func (in *instance) setFault(now time.Time, r fsm.FaultReason, source string, on bool, why string) {
	set := in.faults[r]
	if set == nil {
		set = map[string]bool{}
		in.faults[r] = set
	}
	if on {
		set[source] = true
	} else {
		delete(set, source)
	}
	in.exec(in.m.SetFault(now, r, len(set) > 0, why))
	if r != fsm.FaultSync {
		in.env.group.syncFaults(now, in)
	}
}

// shutdown stops the instance on the loop: a master resigns and
// withdraws, the effects forget its addresses.
func (in *instance) shutdown(now time.Time) {
	in.exec(in.m.Shutdown(now))
	in.stopped = true
	in.ch.Close()
	in.env.fx.unclaim(in.whole())
	if v, ok := in.vmac(); ok {
		in.env.vmacs.release(v)
	}
}

// silent is the advert channel of an instance without VRRP (BGP health
// mode): nothing is sent or heard.
type silent struct{}

func (silent) Send([]byte, netip.Addr) error { return nil }
func (silent) Join(netip.Addr) error         { return nil }
func (silent) Source() netip.Addr            { return netip.Addr{} }
func (silent) Close()                        {}
