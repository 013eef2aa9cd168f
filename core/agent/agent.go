// Package agent wires a node together: it loads the policy, cleans up after
// a crashed run, starts the engine and the status socket, and handles
// signals (TERM: resign and exit; HUP: reload, keeping the old policy if the
// new one does not load; USR1: the whole state to the log).
package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/core/caps"
	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/engine"
	"github.com/vigil-ha/vigil/core/footprint"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/core/statefile"
)

// Options are the agent's command-line settings.
type Options struct {
	Policy   string
	Node     string
	StateDir string
	Socket   string
	Log      hclog.Logger
	// LoadOptions are passed to policy.Load (plugin names, user checks).
	LoadOptions policy.Options
	// Builtins are the plugins compiled into this binary, served by
	// re-executing Self with "plugin NAME".
	Builtins Builtins
	Self     string
	// Diagnostics prints policy diagnostics (the CLI's formatter).
	Diagnostics func(map[string]*hcl.File, hcl.Diagnostics)
	// Supervisor is told when the agent is ready, reloading and stopping,
	// and pinged by the watchdog; nil means Systemd.
	Supervisor Supervisor
}

// Run runs the node until ctx ends or SIGTERM/SIGINT arrives.
func Run(ctx context.Context, o Options) error {
	log := o.Log
	if o.Supervisor == nil {
		o.Supervisor = Systemd{}
	}
	// Before anything else runs: only CAP_NET_ADMIN and CAP_NET_RAW stay
	// effective, nothing is inheritable.
	if err := caps.Restrict(); errors.Is(err, caps.ErrCgo) {
		log.Warn("capabilities stay as the agent was started with", "reason", err)
	} else if err != nil {
		return err
	}
	cfg, err := load(o)
	if err != nil {
		return err
	}
	if o.StateDir != "" {
		if err := statefile.PrepareDir(o.StateDir); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		// Before recovery: a second agent on a live one's records would
		// remove its addresses.
		lock, err := statefile.Lock(o.StateDir)
		if errors.Is(err, statefile.ErrLocked) {
			return fmt.Errorf("another agent runs with the state directory %s: one agent per state directory", o.StateDir)
		} else if err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		defer lock.Close()
	}
	if err := engine.Recover(o.StateDir, engine.NewScope(cfg), log); err != nil {
		return err
	}
	r, err := start(o, cfg)
	if err != nil {
		return err
	}
	defer r.close()
	if err := r.apply(nil, cfg); err != nil {
		r.eng.Shutdown()
		return err
	}
	// Start-up makes garbage (netlink replies, the policy's syntax tree) that
	// the runtime returns to the OS only slowly, and grows the instances'
	// stacks, which the runtime halves at most once per GC cycle; an idle
	// daemon runs few cycles and would carry both for a long time. Once the
	// instances have settled, shrink and hand the memory back.
	settle := time.AfterFunc(settleAfter(cfg), footprint.Settle)
	defer settle.Stop()
	wctx, stopWatchdog := context.WithCancel(context.Background())
	defer stopWatchdog()
	go watchdog(wctx, o.Supervisor, r.eng.Alive, func() { log.Error("engine loop did not answer in time; not telling the watchdog") })
	o.Supervisor.Notify("READY=1")
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			r.stop()
			return nil
		case s := <-sigs:
			switch s {
			case syscall.SIGUSR1:
				// keepalived users' habit: the whole state, in the log.
				for _, l := range r.status().Dump() {
					log.Info(l.Msg, l.KV...)
				}
			case syscall.SIGHUP:
				if next := r.reload(); next != nil {
					settle.Reset(settleAfter(next))
				}
			default:
				r.stop("signal", s.String())
				return nil
			}
		}
	}
}

// running is a node's parts once started: the engine, its checks and
// actions, notifiers, the status socket and the metrics listener.
type running struct {
	o       Options
	log     hclog.Logger
	eng     *engine.Engine
	cs      *checks
	ns      *notifiers
	ms      *metricsServer
	bgp     *bgpEffect
	srv     *api.Server // the status socket of the time: a reload may replace it
	current *config.Config
	// site is read by the status socket's goroutines while a reload
	// replaces the policy.
	site         atomic.Pointer[string]
	stopDispatch context.CancelFunc
}

// start makes the node's parts, with cfg's status group; nothing runs
// an instance until apply.
func start(o Options, cfg *config.Config) (*running, error) {
	l := &launcher{log: o.Log, self: o.Self, builtins: o.Builtins}
	r := &running{o: o, log: o.Log, ns: newNotifiers(l, o.StateDir)}
	r.site.Store(&cfg.Site)
	gid, err := groupID(cfg.StatusGroup)
	if err != nil {
		return nil, err
	}
	r.bgp = newBGPEffect(speakerPath(o.Self), o.Log)
	if r.eng, err = engine.New(engine.Options{Log: o.Log, StateDir: o.StateDir, OnTransition: r.ns.transition, Effects: []engine.Effect{r.bgp}}); err != nil {
		return nil, err
	}
	r.cs = newChecks(l, r.eng, newActions(l, r.eng))
	dctx, stopDispatch := context.WithCancel(context.Background())
	r.stopDispatch = stopDispatch
	go r.ns.dispatch(dctx)
	if r.srv, err = api.Listen(o.Socket, gid, r.status); err != nil {
		r.close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	r.ms = newMetricsServer(o.Log, r.eng, r.cs, r.ns, r.bgp)
	return r, nil
}

func (r *running) status() api.Status {
	return api.Status{Site: *r.site.Load(), Node: r.o.Node, Policy: r.o.Policy, Instances: r.eng.Status(), Checks: r.cs.snapshot(), Notifiers: r.ns.snapshot(), BGP: r.bgp.status()}
}

// apply carries a policy to every part, in the same order at start-up
// (prev nil) and on reload: notifiers first (the engine's first
// transitions are queued for them), the metrics listener, the engine,
// the checks and actions, the status socket's group. At start-up the
// first failure is returned (a plugin that cannot start or refuses its
// config is a policy error: said where, and nothing runs on a half-working
// policy); on reload each failure is logged and the rest still applies.
func (r *running) apply(prev, next *config.Config) error {
	startup := prev == nil
	if startup {
		r.log.Info("starting", "site", next.Site, "router_id", next.RouterID, "instances", len(next.Instances), "policy", r.o.Policy)
	}
	steps := []struct {
		what string // on reload, after "reload: "
		run  func() error
	}{
		{"notifiers did not start", func() error { return r.plugins(r.ns.apply(next), startup) }},
		{"metrics listener did not start", func() error {
			if err := r.ms.apply(next); err != nil {
				return fmt.Errorf("metrics listener: %w", err)
			}
			return nil
		}},
		{"engine applied with errors", func() error { return r.eng.Apply(next) }},
		{"checks or actions did not start", func() error { return r.plugins(r.cs.apply(prev, next), startup) }},
	}
	for _, st := range steps {
		err := st.run()
		switch {
		case err == nil:
		case startup:
			return err
		default:
			r.log.Error("reload: "+st.what, "error", err)
		}
	}
	if !startup && next.StatusGroup != prev.StatusGroup {
		r.srv = relistenStatus(r.log, r.o.Socket, r.srv, next.StatusGroup, r.status)
	}
	r.current = next
	r.site.Store(&next.Site)
	return nil
}

// plugins turns plugins' refusals into an error: at start-up printed as
// policy diagnostics (file:line:col), on reload in the error, for the log.
func (r *running) plugins(d hcl.Diagnostics, startup bool) error {
	switch {
	case !d.HasErrors():
		return nil
	case !startup:
		return errors.New(d.Error())
	}
	if r.o.Diagnostics != nil {
		r.o.Diagnostics(nil, d)
	}
	return errors.New(r.o.Policy + ": plugins could not start with this policy")
}

// reload reads the policy again and applies it, or keeps the running one
// if it does not load; it returns the policy applied, or nil.
func (r *running) reload() *config.Config {
	r.log.Info("received SIGHUP, reloading policy", "policy", r.o.Policy)
	r.o.Supervisor.Notify(reloading())
	defer r.o.Supervisor.Notify("READY=1")
	next, err := load(r.o)
	if err != nil {
		r.log.Error("reload failed, keeping the running policy", "error", err)
		return nil
	}
	r.apply(r.current, next)
	r.log.Info("reload done", "instances", len(next.Instances))
	return next
}

// stop resigns every instance (priority 0, addresses removed); kv says
// why, for the log.
func (r *running) stop(kv ...any) {
	r.log.Info("stopping", kv...)
	r.o.Supervisor.Notify("STOPPING=1")
	r.eng.Shutdown()
	r.log.Info("stopped")
}

// close ends what start made, once the caller stopped the engine: the
// metrics listener, the status socket, the dispatcher (after it has
// queued the transitions of the shutdown itself), the checks and actions,
// the notifiers.
func (r *running) close() {
	if r.ms != nil {
		r.ms.close()
	}
	if r.srv != nil {
		r.srv.Close()
	}
	r.stopDispatch()
	r.ns.dispatch(canceled())
	r.cs.stop()
	r.ns.stop()
}

// relistenStatus gives the status socket the policy's new status_group:
// a new socket in its place, or the old one kept if that fails.
func relistenStatus(log hclog.Logger, path string, old *api.Server, group string, status func() api.Status) *api.Server {
	gid, err := groupID(group)
	if err != nil {
		log.Error("reload: status_group unchanged", "error", err)
		return old
	}
	old.Close()
	srv, err := api.Listen(path, gid, status)
	if err != nil {
		log.Error("reload: status socket could not be made again; vigil status answers after a restart", "error", err)
		return old
	}
	log.Info("status socket group changed", "status_group", group)
	return srv
}

// groupID is the status socket's group, or -1 for root only.
func groupID(name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("status_group %q: %w", name, err)
	}
	return strconv.Atoi(g.Gid)
}

func load(o Options) (*config.Config, error) {
	site, files, diags := policy.Load(o.Policy, o.LoadOptions)
	if o.Diagnostics != nil && len(diags) > 0 {
		o.Diagnostics(files, diags)
	}
	if diags.HasErrors() {
		return nil, errors.New(o.Policy + ": policy has errors (vigil validate shows them all)")
	}
	return site.Config(o.Node)
}

// settleAfter is when start-up work is over: every instance has had its
// master-down interval (at most 3 intervals plus skew) and its second
// gratuitous ARP burst.
func settleAfter(cfg *config.Config) time.Duration {
	d := 5 * time.Second
	for _, in := range cfg.Instances {
		d = max(d, 4*in.Interval+in.GARP.MasterDelay+time.Second)
	}
	return cfg.StartupDelay + d
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
