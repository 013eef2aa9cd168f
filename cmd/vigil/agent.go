package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/agent"
	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/plugins/builtin"
)

type agentCommand struct{ ui *ui }

func (c *agentCommand) Synopsis() string { return "Run this node's part of a site policy" }
func (c *agentCommand) Help() string {
	return `Usage: vigil agent --policy FILE --node NAME [--state-dir DIR] [--socket PATH]
                   [--log-level LEVEL] [--log-format text|json]

  Runs the VRRP instances the policy gives NAME. SIGTERM or SIGINT: masters
  send priority 0, VIPs are removed, exit. SIGHUP: reload the policy; if it
  does not load, the running one stays.

  --state-dir  where the record of added VIPs lives (default /var/lib/vigil)
  --socket     status socket for 'vigil status' (default ` + api.DefaultSocket + `)
  --log-level  trace, debug, info, warn, error (default info)
  --log-format text or json (default text); under systemd's journal
               (JOURNAL_STREAM set) text lines carry no time of their own

  Under systemd (Type=notify) the agent says READY=1 once its instances
  run, RELOADING=1 on SIGHUP and STOPPING=1 on SIGTERM, and feeds the
  watchdog (WatchdogSec) only while its event loop answers.`
}

func (c *agentCommand) Run(args []string) int {
	fs := flagSet("agent", c.ui)
	pol := fs.String("policy", "", "site policy file")
	node := fs.String("node", "", "this node's name in the policy")
	stateDir := fs.String("state-dir", "/var/lib/vigil", "state directory")
	socket := fs.String("socket", api.DefaultSocket, "status socket")
	level := fs.String("log-level", "info", "log level")
	format := fs.String("log-format", "text", "log format: text or json")
	if err := parseInterleaved(fs, args); err != nil || *pol == "" || fs.NArg() != 0 {
		c.ui.Error(c.Help())
		return 1
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// The agent's work is a few short bursts a second; with one P a
		// wake-up does not also wake a second thread to look for work
		// (a third less CPU idle, docs/benchmarks.md), and one core
		// handles a flood of adverts many times over.
		runtime.GOMAXPROCS(1)
	}
	if *format != "text" && *format != "json" {
		c.ui.Error(fmt.Sprintf("--log-format %q: want text or json", *format))
		return 1
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "vigil", Level: hclog.LevelFromString(*level), Output: os.Stderr,
		TimeFormat: "2006-01-02T15:04:05.000Z0700", JSONFormat: *format == "json",
		// The journal stamps every line itself: a second time is noise.
		DisableTime: os.Getenv("JOURNAL_STREAM") != ""})
	if *node != "" {
		log = log.With("node", *node)
	}
	err := agent.Run(context.Background(), agent.Options{
		Policy: *pol, Node: *node, StateDir: *stateDir, Socket: *socket, Log: log,
		LoadOptions: loadOptions(true),
		Builtins:    builtinSet{},
		Self:        self(),
		Diagnostics: func(files map[string]*hcl.File, d hcl.Diagnostics) { policy.WriteDiagnostics(c.ui.err, files, d) },
	})
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	return 0
}

type statusCommand struct{ ui *ui }

func (c *statusCommand) Synopsis() string {
	return "Show the live state of every instance on this node"
}
func (c *statusCommand) Help() string {
	return `Usage: vigil status [--socket PATH] [--json | --dump] [--watch [--interval D]]

  Shows each instance (state, priority, VIPs, master, dropped adverts), what
  it tracks, the checks and notifiers with their plugin processes.

  --socket    the agent's status socket (default ` + api.DefaultSocket + `)
  --json      the status document; its fields are documented in docs/status.md
  --dump      one line per instance, tracked source, check and notifier, as
              the agent logs them on SIGUSR1
  --watch     refresh until interrupted
  --interval  how often --watch refreshes (default 1s)`
}

func (c *statusCommand) Run(args []string) int {
	fs := flagSet("status", c.ui)
	socket := fs.String("socket", api.DefaultSocket, "status socket")
	asJSON := fs.Bool("json", false, "JSON output")
	dump := fs.Bool("dump", false, "state dump")
	watch := fs.Bool("watch", false, "refresh until interrupted")
	interval := fs.Duration("interval", time.Second, "refresh interval of --watch")
	if err := parseInterleaved(fs, args); err != nil || fs.NArg() != 0 || (*asJSON && *dump) || *interval < 100*time.Millisecond {
		c.ui.Error(c.Help())
		return 1
	}
	show := func() int {
		st, err := api.Fetch(*socket)
		if err != nil {
			c.ui.Error(err.Error())
			return 1
		}
		switch {
		case *asJSON:
			b, _ := jsonIndent(st)
			c.ui.Output(string(b))
		case *dump:
			for _, l := range st.Dump() {
				c.ui.Output(l.String())
			}
		default:
			c.ui.Output(statusText(st))
		}
		return 0
	}
	if !*watch {
		return show()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		c.ui.Output("\x1b[H\x1b[2J" + time.Now().Format(time.TimeOnly))
		show() // an agent that is restarting shows as unreachable, and the watch goes on
		select {
		case <-sigs:
			return 0
		case <-t.C:
		}
	}
}

// statusText is the table `vigil status` prints.
func statusText(st api.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "site %s, node %s (%s)\n\n", st.Site, st.Node, st.Policy)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "instance\tstate\tsince\tpriority\tinterface\tvrid\tvips\tmaster\tdropped")
	for _, in := range st.Instances {
		var dropped uint64
		for k, v := range in.Counters {
			if strings.HasPrefix(k, "dropped_") {
				dropped += v
			}
		}
		master := in.Master
		if in.State == "MASTER" {
			master = "this node"
		} else if master != "" {
			master = fmt.Sprintf("%s (%d)", master, in.MasterPriority)
		}
		prio := fmt.Sprint(in.Priority)
		if in.Priority != in.BasePriority {
			prio = fmt.Sprintf("%d (base %d)", in.Priority, in.BasePriority)
		}
		iface := in.Interface
		if in.VMAC != "" {
			iface = in.VMAC + "@" + in.Interface // as ip link shows a macvlan
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\n", in.Name, in.State, in.Since.Format(time.RFC3339), prio, iface, in.VRID,
			strings.Join(in.VIPs, ","), master, dropped)
	}
	tw.Flush()
	var tracked, checks, notifiers []string
	for _, in := range st.Instances {
		for _, src := range slices.Sorted(maps.Keys(in.Tracking)) {
			t := in.Tracking[src]
			tracked = append(tracked, fmt.Sprintf("%s\t%s\t%s\t%s when down", in.Name, src, strings.ToUpper(t.State()), t.Effect()))
		}
	}
	for _, ck := range st.Checks {
		state, last := "passing", "-"
		if ck.Failing {
			state = "FAILING"
		}
		if ck.LastDuration > 0 {
			last = ck.LastDuration.Round(time.Microsecond).String()
		}
		checks = append(checks, fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s\t%s", ck.Name, state, ck.Plugin, pidText(ck.Pid), ck.Restarts, last, ck.LastError))
	}
	for _, n := range st.Notifiers {
		notifiers = append(notifiers, fmt.Sprintf("%s\t%s\t%d\t%s\t%s\t%d\t%s", n.Name, n.Plugin, n.Pending, n.Oldest.Round(time.Millisecond), pidText(n.Pid), n.Restarts, n.LastError))
	}
	var peers, routes []string
	if st.BGP != nil {
		for _, name := range slices.Sorted(maps.Keys(st.BGP.Peers)) {
			p := st.BGP.Peers[name]
			peers = append(peers, fmt.Sprintf("%s\t%s\t%s\t%s\t%s", name, p.Addr, p.State, p.Since.Format(time.RFC3339), p.Reason))
		}
		for _, r := range st.BGP.Announced {
			routes = append(routes, fmt.Sprintf("%s\t%s\t%d", r.Prefix, r.Instance, r.MED))
		}
	}
	table(&b, "instance\ttracks\tstate\teffect", tracked)
	table(&b, "bgp peer\taddress\tstate\tsince\treason", peers)
	table(&b, "announced\tinstance\tmed", routes)
	table(&b, "check\tstate\tplugin\tpid\trestarts\tlast run\tlast error", checks)
	table(&b, "notifier\tplugin\tpending\toldest\tpid\trestarts\tlast error", notifiers)
	return strings.TrimRight(b.String(), "\n")
}

// table writes a blank line and an aligned table, if there are rows.
func table(b *strings.Builder, header string, rows []string) {
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	tw.Flush()
}

// pidText is a plugin's pid, or "down" while none runs.
func pidText(pid int) string {
	if pid <= 0 {
		return "down"
	}
	return fmt.Sprint(pid)
}

// builtinSet is the built-in table as the agent sees it.
type builtinSet struct{}

func (builtinSet) Has(name string) bool { return builtin.Has(name) }

// selfPath overrides self() in tests, whose binary is not vigil.
var selfPath string

// self is this binary, which the agent re-executes to serve built-ins.
func self() string {
	if selfPath != "" {
		return selfPath
	}
	p, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return p
}
