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
	sup := o.Supervisor
	if sup == nil {
		sup = Systemd{}
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
	l := &launcher{log: log, self: o.Self, builtins: o.Builtins}
	ns := newNotifiers(l, o.StateDir)
	eng, err := engine.New(engine.Options{Log: log, StateDir: o.StateDir, OnTransition: ns.transition})
	if err != nil {
		return err
	}
	cs := newChecks(l, eng, newActions(l, eng))
	dctx, stopDispatch := context.WithCancel(context.Background())
	go ns.dispatch(dctx)
	defer ns.stop()
	defer cs.stop()
	// Last out: queue the transitions of the shutdown itself before the
	// dispatcher stops (deferred calls run in reverse order).
	defer func() { stopDispatch(); ns.dispatch(canceled()) }()
	current := cfg
	// The status socket's goroutines read the site's name while a reload
	// replaces the policy.
	var site atomic.Pointer[string]
	site.Store(&cfg.Site)
	gid, err := groupID(cfg.StatusGroup)
	if err != nil {
		return err
	}
	status := func() api.Status {
		return api.Status{Site: *site.Load(), Node: o.Node, Policy: o.Policy, Instances: eng.Status(), Checks: cs.snapshot(), Notifiers: ns.snapshot()}
	}
	srv, err := api.Listen(o.Socket, gid, status)
	if err != nil {
		return fmt.Errorf("status socket: %w", err)
	}
	defer func() { srv.Close() }() // the socket of the time: a reload may replace it
	ms := newMetricsServer(log, eng, cs, ns)
	if err := ms.apply(cfg); err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	defer ms.close()
	log.Info("starting", "site", cfg.Site, "router_id", cfg.RouterID, "instances", len(cfg.Instances), "policy", o.Policy)
	// A plugin that cannot start or refuses its config is a policy error:
	// say where and stop before anything runs on a half-working policy.
	pluginsFailed := func(d hcl.Diagnostics) error {
		if o.Diagnostics != nil {
			o.Diagnostics(nil, d)
		}
		return errors.New(o.Policy + ": plugins could not start with this policy")
	}
	if d := ns.apply(cfg); d.HasErrors() {
		return pluginsFailed(d)
	}
	if err := eng.Apply(cfg); err != nil {
		eng.Shutdown()
		return err
	}
	if d := cs.apply(nil, cfg); d.HasErrors() {
		eng.Shutdown()
		return pluginsFailed(d)
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
	go watchdog(wctx, sup, eng.Alive, func() { log.Error("engine loop did not answer in time; not telling the watchdog") })
	sup.Notify("READY=1")
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping")
			sup.Notify("STOPPING=1")
			eng.Shutdown()
			return nil
		case s := <-sigs:
			if s == syscall.SIGUSR1 {
				// keepalived users' habit: the whole state, in the log.
				for _, l := range status().Dump() {
					log.Info(l.Msg, l.KV...)
				}
				continue
			}
			if s != syscall.SIGHUP {
				log.Info("stopping on signal", "signal", s.String())
				sup.Notify("STOPPING=1")
				eng.Shutdown()
				log.Info("stopped")
				return nil
			}
			log.Info("received SIGHUP, reloading policy", "policy", o.Policy)
			sup.Notify(reloading())
			next, err := load(o)
			if err != nil {
				log.Error("reload failed, keeping the running policy", "error", err)
				sup.Notify("READY=1")
				continue
			}
			if d := ns.apply(next); d.HasErrors() {
				log.Error("reload: notifiers did not start", "error", d.Error())
			}
			if err := eng.Apply(next); err != nil {
				log.Error("reload applied with errors", "error", err)
			}
			if d := cs.apply(current, next); d.HasErrors() {
				log.Error("reload: checks or actions did not start", "error", d.Error())
			}
			if err := ms.apply(next); err != nil {
				log.Error("reload: metrics listener did not start", "error", err)
			}
			if next.StatusGroup != current.StatusGroup {
				srv = relistenStatus(log, o.Socket, srv, next.StatusGroup, status)
			}
			current = next
			site.Store(&next.Site)
			log.Info("reload done", "instances", len(next.Instances))
			sup.Notify("READY=1")
			settle.Reset(settleAfter(next))
		}
	}
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
