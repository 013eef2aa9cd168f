package agent

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/engine"
	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/notify"
	"github.com/vigil-ha/vigil/core/pluginhost"
	"github.com/vigil-ha/vigil/core/syncgroup"
	"github.com/vigil-ha/vigil/sdk"
)

// notifiers runs the policy's notifier plugins and carries every
// transition into the durable queue of each notifier it concerns.
type notifiers struct {
	*launcher
	stateDir string

	mu      sync.Mutex
	cfg     *config.Config
	running map[string]*runningNotifier
	seq     atomic.Uint64
	// The last state each instance entered and each sync group was
	// reported in, for keepalived's GROUP notifications.
	states      map[string]fsm.State
	groupStates map[string]fsm.State

	// Transitions wait here for the dispatcher, so that the engine's
	// loop reporting one never waits for a disk.
	emu    sync.Mutex
	events []engine.Transition
	wake   chan struct{}
}

type runningNotifier struct {
	cfg    config.Notifier
	plugin *pluginhost.Plugin
	queue  *notify.Queue
	cancel context.CancelFunc
}

func newNotifiers(l *launcher, stateDir string) *notifiers {
	return &notifiers{launcher: l, stateDir: stateDir, running: map[string]*runningNotifier{},
		states: map[string]fsm.State{}, groupStates: map[string]fsm.State{}, wake: make(chan struct{}, 1)}
}

// apply makes the running notifiers match cfg, before the engine starts,
// so that its first transitions are queued. A notifier whose settings are
// unchanged keeps running and keeps its queue.
func (ns *notifiers) apply(cfg *config.Config) hcl.Diagnostics {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.cfg = cfg
	var diags hcl.Diagnostics
	want := map[string]config.Notifier{}
	for _, n := range cfg.Notifiers {
		want[n.Name] = n
	}
	for name, rn := range ns.running {
		if n, ok := want[name]; !ok || !reflect.DeepEqual(n, rn.cfg) {
			rn.cancel()
			rn.plugin.Close()
			delete(ns.running, name)
		}
	}
	for _, n := range cfg.Notifiers {
		if _, running := ns.running[n.Name]; running {
			continue
		}
		if err := ns.start(cfg, n); err != nil {
			diags = append(diags, configDiags(sdk.KindNotifier, n.Name, n.Config, err)...)
		}
	}
	return diags
}

func (ns *notifiers) start(cfg *config.Config, n config.Notifier) error {
	// A notifier's own timeouts govern (smtp-notify waits 30s to connect,
	// as keepalived does); the call bound only stops a hung plugin.
	p, err := ns.launch(cfg, n.Name, n.Plugin, sdk.KindNotifier, n.Config.JSON, func(s *pluginhost.Spec) { s.CallTimeout = 2 * time.Minute })
	if err != nil {
		return err
	}
	q, err := notify.Open(filepath.Join(ns.stateDir, "notify"), n.Name, p, ns.log)
	if err != nil {
		p.Close()
		return err
	}
	for {
		cur := ns.seq.Load()
		if q.LastSeq() <= cur || ns.seq.CompareAndSwap(cur, q.LastSeq()) {
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ns.running[n.Name] = &runningNotifier{cfg: n, plugin: p, queue: q, cancel: cancel}
	go q.Run(ctx)
	return nil
}

// transition is the engine's hook: it only records the change, for
// dispatch, and returns at once.
func (ns *notifiers) transition(t engine.Transition) {
	ns.emu.Lock()
	ns.events = append(ns.events, t)
	ns.emu.Unlock()
	select {
	case ns.wake <- struct{}{}:
	default:
	}
}

// dispatch moves recorded transitions into the notifiers' durable queues,
// in order, until ctx ends.
func (ns *notifiers) dispatch(ctx context.Context) {
	for {
		ns.emu.Lock()
		batch := ns.events
		ns.events = nil
		ns.emu.Unlock()
		for _, t := range batch {
			ns.queue(t)
		}
		select {
		case <-ctx.Done():
			return
		case <-ns.wake:
		}
	}
}

func (ns *notifiers) queue(t engine.Transition) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.cfg == nil {
		return
	}
	if st, ok := fsm.ParseState(t.To); ok && !t.PriorityChange {
		ns.states[t.Instance] = st
	}
	var inst *config.Instance
	for i := range ns.cfg.Instances {
		if ns.cfg.Instances[i].Name == t.Instance {
			inst = &ns.cfg.Instances[i]
		}
	}
	if inst == nil {
		return
	}
	ev := sdk.Event{Site: ns.cfg.Site, Node: ns.cfg.Node, RouterID: ns.cfg.RouterID, Instance: t.Instance,
		From: t.From, To: t.To, Reason: t.Reason, Time: t.At, Priority: int(t.Priority), PriorityChange: t.PriorityChange}
	for _, v := range inst.VIPs {
		ev.VIPs = append(ev.VIPs, v.Prefix.String())
	}
	ns.push(inst.Notify, ev)
	if inst.SyncGroup != "" && !t.PriorityChange {
		ns.queueGroup(inst.SyncGroup, t)
	}
}

// queueGroup reports a sync group's change of state, as keepalived's GROUP
// notifications do, when t changes the state the group is in as a whole.
func (ns *notifiers) queueGroup(name string, t engine.Transition) {
	i := slices.IndexFunc(ns.cfg.SyncGroups, func(g config.SyncGroup) bool { return g.Name == name })
	if i < 0 {
		return
	}
	g := ns.cfg.SyncGroups[i]
	var members []syncgroup.Member
	for _, m := range g.Instances {
		st, started := ns.states[m]
		members = append(members, syncgroup.Member{State: st, Started: started})
	}
	to := syncgroup.State(members)
	from, reported := ns.groupStates[name]
	if !reported {
		from = fsm.Init
	}
	if to == from {
		return
	}
	ns.groupStates[name] = to
	ev := sdk.Event{Site: ns.cfg.Site, Node: ns.cfg.Node, RouterID: ns.cfg.RouterID, Group: name,
		From: from.String(), To: to.String(), Reason: t.Reason, Time: t.At}
	for _, in := range ns.cfg.Instances {
		if slices.Contains(g.Instances, in.Name) {
			for _, v := range in.VIPs {
				ev.VIPs = append(ev.VIPs, v.Prefix.String())
			}
		}
	}
	ns.push(g.Notify, ev)
}

// push puts ev, numbered, into the queue of each named notifier.
func (ns *notifiers) push(names []string, ev sdk.Event) {
	if len(names) == 0 {
		return
	}
	ev.Seq = ns.seq.Add(1)
	for _, name := range names {
		if rn := ns.running[name]; rn != nil {
			if err := rn.queue.Push(ev); err != nil {
				ns.log.Error("cannot queue event", "notifier", name, "error", err)
			}
		}
	}
}

// stop ends every notifier; what is queued stays on disk for the next run.
func (ns *notifiers) stop() {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for _, rn := range ns.running {
		rn.cancel()
		rn.plugin.Close()
	}
}

// snapshot reports every running notifier's queue.
func (ns *notifiers) snapshot() []api.Notifier {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	now := time.Now()
	out := make([]api.Notifier, 0, len(ns.running))
	for name, rn := range ns.running {
		out = append(out, api.Notifier{Name: name, Plugin: rn.cfg.Plugin, Pending: rn.queue.Pending(), Oldest: rn.queue.Oldest(now),
			Pid: rn.plugin.Pid(), Restarts: max(rn.plugin.Starts()-1, 0), LastError: rn.plugin.LastError()})
	}
	slices.SortFunc(out, func(a, b api.Notifier) int { return strings.Compare(a.Name, b.Name) })
	return out
}
