package sdk_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/vigil-ha/vigil/sdk"
	"github.com/vigil-ha/vigil/sdk/host"
)

// fake is a plugin's base that records its config; fakeCheck,
// fakeNotifier and fakeAction are one kind each.
type fake struct {
	kind   sdk.Kind
	config map[string]any
}

type fakeCheck struct{ *fake }

type fakeNotifier struct {
	*fake
	event sdk.Event
}

type fakeAction struct {
	*fake
	trig sdk.Trigger
}

func (f *fake) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "fake", Kind: f.kind, Version: "1.2.3"}, nil
}
func (f *fake) Configure(_ context.Context, m map[string]any) error {
	if m["port"] == "nope" {
		return sdk.ConfigErrors{{Attribute: "port", Message: "not a port"}, {Message: "and the block as a whole"}}
	}
	f.config = m
	return nil
}
func (f *fakeCheck) Check(context.Context) (sdk.Result, error) {
	v := int64(7)
	return sdk.Result{Healthy: false, Message: "down: 502", Value: &v}, nil
}
func (f *fakeNotifier) Notify(_ context.Context, ev sdk.Event) error { f.event = ev; return nil }
func (f *fakeAction) Run(_ context.Context, t sdk.Trigger) (sdk.Outcome, string, error) {
	f.trig = t
	return sdk.Yield, "gave the address away", nil
}

// joined serves with the plugin's half and connects with the agent's, as
// the two processes do.
type joined struct {
	plugin.NetRPCUnsupportedPlugin
	srv, cli plugin.GRPCPlugin
}

func (j joined) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error { return j.srv.GRPCServer(b, s) }
func (j joined) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return j.cli.GRPCClient(ctx, b, c)
}

// connect serves impl as kind over an in-memory gRPC connection and
// returns the agent's client of it.
func connect(t *testing.T, impl sdk.Base, kind sdk.Kind) *host.Client {
	t.Helper()
	srv, err := sdk.PluginSet(impl)
	if err != nil {
		t.Fatal(err)
	}
	ps := map[string]plugin.Plugin{string(kind): joined{srv: srv[string(kind)].(plugin.GRPCPlugin), cli: host.Plugins()[string(kind)].(plugin.GRPCPlugin)}}
	client, server := plugin.TestPluginGRPCConn(t, false, ps)
	t.Cleanup(func() { client.Close(); server.Stop() })
	raw, err := client.Dispense(string(kind))
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*host.Client)
}

// Everything a plugin says crosses the wire as it said it: its identity,
// a refusal attribute by attribute, a result, an event, an outcome.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	t.Run("check", func(t *testing.T) {
		f := &fakeCheck{&fake{kind: sdk.KindCheck}}
		c := connect(t, f, sdk.KindCheck)
		info, err := c.Info(ctx)
		if err != nil || info != (sdk.Info{Name: "fake", Kind: sdk.KindCheck, Version: "1.2.3"}) {
			t.Fatalf("Info = %+v, %v", info, err)
		}
		if err := c.Configure(ctx, map[string]any{"url": "http://192.0.2.10/", "fall": 3.0}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]any{"url": "http://192.0.2.10/", "fall": 3.0}, f.config); diff != "" {
			t.Errorf("config (-sent +got):\n%s", diff)
		}
		var ces sdk.ConfigErrors
		err = c.Configure(ctx, map[string]any{"port": "nope"})
		if !errors.As(err, &ces) {
			t.Fatalf("refusal lost its shape: %T %v", err, err)
		}
		if diff := cmp.Diff(sdk.ConfigErrors{{Attribute: "port", Message: "not a port"}, {Message: "and the block as a whole"}}, ces); diff != "" {
			t.Errorf("refusal (-want +got):\n%s", diff)
		}
		res, err := c.Check(ctx)
		if err != nil || res.Healthy || res.Message != "down: 502" || res.Value == nil || *res.Value != 7 {
			t.Errorf("Check = %+v, %v", res, err)
		}
		if err := c.Notify(ctx, sdk.Event{}); err == nil {
			t.Error("a check answered Notify")
		}
	})
	t.Run("notifier", func(t *testing.T) {
		f := &fakeNotifier{fake: &fake{kind: sdk.KindNotifier}}
		c := connect(t, f, sdk.KindNotifier)
		ev := sdk.Event{Seq: 9, Site: "site", Node: "lb01", RouterID: "lb01", Instance: "VI_1", From: "BACKUP", To: "MASTER",
			Reason: "master down timer expired", Time: time.Unix(1700000000, 5).UTC(), Priority: 100, VIPs: []string{"192.0.2.24/24", "2001:db8::24/64"}}
		prio := ev
		prio.From, prio.Reason, prio.Priority, prio.PriorityChange = "MASTER", "nginx", 140, true
		for _, ev := range []sdk.Event{ev, prio} {
			if err := c.Notify(ctx, ev); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ev, f.event); diff != "" {
				t.Errorf("event (-sent +got):\n%s", diff)
			}
		}
	})
	t.Run("action", func(t *testing.T) {
		f := &fakeAction{fake: &fake{kind: sdk.KindAction}}
		c := connect(t, f, sdk.KindAction)
		trig := sdk.Trigger{Check: "nginx", Node: "lb01", Instances: []string{"VI_1"}, Reason: "connection refused",
			CheckConfig: map[string]any{"url": "http://192.0.2.10/"}}
		out, msg, err := c.Run(ctx, trig)
		if err != nil || out != sdk.Yield || msg != "gave the address away" {
			t.Fatalf("Run = %q, %q, %v", out, msg, err)
		}
		if diff := cmp.Diff(trig, f.trig); diff != "" {
			t.Errorf("trigger (-sent +got):\n%s", diff)
		}
	})
}

func TestDecodeConfig(t *testing.T) {
	type cfg struct {
		URL     string       `json:"url"`
		Timeout sdk.Duration `json:"timeout"`
	}
	cases := []struct {
		name string
		in   map[string]any
		want cfg
		err  string
	}{
		{"values", map[string]any{"url": "http://192.0.2.1/", "timeout": "1.5s"}, cfg{"http://192.0.2.1/", sdk.Duration(1500 * time.Millisecond)}, ""},
		{"empty", map[string]any{}, cfg{}, ""},
		{"unknown attribute", map[string]any{"ulr": "x"}, cfg{}, "ulr"},
		{"bad duration", map[string]any{"timeout": "soon"}, cfg{}, "soon"},
		{"wrong type", map[string]any{"url": 3.0}, cfg{}, "url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got cfg
			err := sdk.DecodeConfig(c.in, &got)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one naming %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestConfigErrorsSayEveryAttribute(t *testing.T) {
	got := sdk.ConfigErrors{{Attribute: "port", Message: "not a port"}, {Attribute: "to", Message: "required"}}.Error()
	for _, want := range []string{"port", "not a port", "to", "required"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q does not say %q", got, want)
		}
	}
}
