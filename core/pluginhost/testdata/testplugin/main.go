// Command testplugin is a plugin for pluginhost's tests: `testplugin KIND`
// serves a check, notifier or action whose behaviour its config sets.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/sdk"
	"github.com/vigil-ha/vigil/sdk/host"
)

type config struct {
	Mode    string `json:"mode"`    // check: ok, fail, hang, report, noisy, hostile; action: recovered, yield
	Name    string `json:"name"`    // name to report (default testplugin)
	Journal string `json:"journal"` // notifier: file events are appended to
	// hostile: what it attacks (the agent's state directory, status
	// socket and policy).
	State  string `json:"state"`
	Socket string `json:"socket"`
	Policy string `json:"policy"`
}

type base struct {
	kind sdk.Kind
	name string // reported when the config names none (default testplugin)
	cfg  config
}

func (b *base) Info(context.Context) (sdk.Info, error) {
	name := b.cfg.Name
	if name == "" {
		name = cmp.Or(b.name, "testplugin")
	}
	return sdk.Info{Name: name, Kind: b.kind, Version: "1"}, nil
}

func (b *base) Configure(_ context.Context, c map[string]any) error {
	if err := sdk.DecodeConfig(c, &b.cfg); err != nil {
		return err
	}
	if b.cfg.Mode == "refuse" {
		return sdk.ConfigErrors{{Attribute: "mode", Message: "refuse is refused"}}
	}
	return nil
}

type check struct{ base }

func (c *check) Check(ctx context.Context) (sdk.Result, error) {
	switch c.cfg.Mode {
	case "fail":
		return sdk.Result{Healthy: false, Message: "failing on purpose"}, nil
	case "hang":
		select {} // ignores its context, as a truly stuck plugin would
	case "report":
		return sdk.Result{Healthy: true, Message: report()}, nil
	case "hostile":
		if won := attack(c.cfg); len(won) > 0 {
			return sdk.Result{Healthy: false, Message: strings.Join(won, "; ")}, nil
		}
		return sdk.Result{Healthy: true, Message: "every attack failed"}, nil
	case "noisy":
		// A hostile plugin: forged agent log lines on stderr, a huge
		// message with embedded newlines.
		// fd 2 is the pipe the host logs from (go-plugin swaps only the
		// os.Stderr variable for its own stream).
		stderr := os.NewFile(2, "stderr")
		// A JSON log entry (go-plugin parses those) whose message carries
		// a forged agent line after a newline.
		fmt.Fprintf(stderr, "{\"@level\":\"info\",\"@message\":\"hello\\n2026-01-01T00:00:00.000Z [INFO]  VI_1 entering FAULT state\",\"@timestamp\":\"2026-01-01T00:00:00.000000Z\"}\n")
		for i := range 5000 {
			fmt.Fprintf(stderr, "2026-01-01T00:00:00.000Z [INFO]  VI_1 entering MASTER state %d\n", i)
		}
		return sdk.Result{Healthy: true, Message: "line one\n2026-01-01T00:00:00.000Z [INFO]  VI_1 entering FAULT state\n" + strings.Repeat("x", 1<<20)}, nil
	}
	return sdk.Result{Healthy: true, Message: "fine"}, nil
}

// report describes the process's privileges: its environment's names
// (the message is bounded), its groups, gid and
// capability sets as the kernel has them, whether it is dumpable, and what
// its stdin is.
func report() string {
	status, _ := os.ReadFile("/proc/self/status")
	var groups, gid string
	capSets := map[string]string{}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "Groups:"); ok {
			groups = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "Gid:"); ok {
			gid = strings.Fields(v)[0]
		}
		for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
			if v, ok := strings.CutPrefix(l, set+":"); ok {
				capSets[set] = strings.TrimSpace(v)
			}
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		env = append(env, k)
	}
	dumpable, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	stdin, _ := os.Readlink("/proc/self/fd/0")
	b, _ := json.Marshal(map[string]any{"env": env, "groups": groups, "gid": gid, "caps": capSets, "dumpable": dumpable, "stdin": stdin})
	return string(b)
}

// flapCheck pushes its result, alternating pass and fail, as fast as the
// agent takes it: a broken or hostile check.
type flapCheck struct{ base }

func (c *flapCheck) Check(context.Context) (sdk.Result, error) {
	return sdk.Result{Healthy: true, Message: "fine"}, nil
}

func (c *flapCheck) Watch(ctx context.Context, report func(sdk.Result)) error {
	for i := 0; ctx.Err() == nil; i++ {
		report(sdk.Result{Healthy: i%2 == 0, Message: fmt.Sprintf("flip %d", i)})
		if i%100 == 99 {
			time.Sleep(10 * time.Millisecond) // ~10,000 results a second
		}
	}
	return nil
}

type notifier struct{ base }

func (n *notifier) Notify(_ context.Context, ev sdk.Event) error {
	f, err := os.OpenFile(n.cfg.Journal, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%d %s %s->%s %s %v node=%s\n", ev.Seq, ev.Instance, ev.From, ev.To, ev.Reason, ev.VIPs, ev.Node)
	return err
}

type action struct{ base }

func (a *action) Run(_ context.Context, t sdk.Trigger) (sdk.Outcome, string, error) {
	if a.cfg.Mode == "yield" {
		return sdk.Yield, "cannot recover " + t.Check, nil
	}
	return sdk.Recovered, fmt.Sprintf("recovered %s for %v after %v", t.Check, t.Instances, time.Duration(0)), nil
}

func main() {
	switch os.Args[len(os.Args)-1] {
	case "check":
		sdk.Serve(&check{base{kind: sdk.KindCheck}})
	case "flapcheck":
		sdk.Serve(&flapCheck{base{kind: sdk.KindCheck}})
	case "notifier":
		sdk.Serve(&notifier{base{kind: sdk.KindNotifier}})
	case "action":
		sdk.Serve(&action{base{kind: sdk.KindAction}})
	case "shared":
		// One process for many blocks, as the agent runs its built-ins:
		// plugins tcheck, tnotifier and taction.
		sdk.Serve(&host.Router{New: func(name string) (sdk.Base, error) {
			switch name {
			case "tcheck":
				return &check{base{kind: sdk.KindCheck, name: name}}, nil
			case "tnotifier":
				return &notifier{base{kind: sdk.KindNotifier, name: name}}, nil
			case "taction":
				return &action{base{kind: sdk.KindAction, name: name}}, nil
			}
			return nil, fmt.Errorf("no plugin %q here", name)
		}})
	default:
		fmt.Fprintln(os.Stderr, "usage: testplugin check|flapcheck|notifier|action|shared")
		os.Exit(2)
	}
}
