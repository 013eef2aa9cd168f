// Command testplugin is a plugin for pluginhost's tests: `testplugin KIND`
// serves a check, notifier or action whose behaviour its config sets.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/vigil-ha/vigil/sdk"
)

type config struct {
	Mode    string `json:"mode"`    // check: ok, fail, hang; action: recovered, yield
	Name    string `json:"name"`    // name to report (default testplugin)
	Journal string `json:"journal"` // notifier: file events are appended to
}

type base struct {
	kind sdk.Kind
	cfg  config
}

func (b *base) Info(context.Context) (sdk.Info, error) {
	name := b.cfg.Name
	if name == "" {
		name = "testplugin"
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
	}
	return sdk.Result{Healthy: true, Message: "fine"}, nil
}

type notifier struct{ base }

func (n *notifier) Notify(_ context.Context, ev sdk.Event) error {
	f, err := os.OpenFile(n.cfg.Journal, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%d %s %s->%s %s %v\n", ev.Seq, ev.Instance, ev.From, ev.To, ev.Reason, ev.VIPs)
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
	case "notifier":
		sdk.Serve(&notifier{base{kind: sdk.KindNotifier}})
	case "action":
		sdk.Serve(&action{base{kind: sdk.KindAction}})
	default:
		fmt.Fprintln(os.Stderr, "usage: testplugin check|notifier|action")
		os.Exit(2)
	}
}
