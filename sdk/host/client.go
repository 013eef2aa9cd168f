// Package host is the agent's side of the plugin protocol: it starts
// nothing itself (core/pluginhost does), but turns a plugin's gRPC
// connection back into plain Go calls. Plugin authors need only package
// sdk.
package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/vigil-ha/vigil/sdk"
	pb "github.com/vigil-ha/vigil/sdk/internal/proto/v1"
	"github.com/vigil-ha/vigil/sdk/internal/wire"
)

// Handshake is the one every Vigil plugin answers.
var Handshake = wire.Handshake

// Plugins is the map the agent dispenses plugins from, one per kind.
func Plugins() plugin.PluginSet {
	return plugin.PluginSet{
		string(sdk.KindCheck):    &grpcPlugin{},
		string(sdk.KindNotifier): &grpcPlugin{},
		string(sdk.KindAction):   &grpcPlugin{},
	}
}

// grpcPlugin is the host's half of a go-plugin plugin: it only connects.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (*grpcPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the agent serves no plugin")
}

func (*grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{base: pb.NewBaseClient(c), check: pb.NewCheckClient(c), notifier: pb.NewNotifierClient(c), action: pb.NewActionClient(c)}, nil
}

// Client is the agent's side of a plugin: the plugin's methods over gRPC,
// in plain Go types. It implements Check, Watcher, Notifier and Action;
// calling one the plugin does not serve returns an error.
type Client struct {
	base     pb.BaseClient
	check    pb.CheckClient
	notifier pb.NotifierClient
	action   pb.ActionClient
	watch    bool
	// block and plugin name every call, for a process serving several
	// blocks (see Router); empty for a process of its own.
	block, plugin string
	// auth is the key the process was started with (Authenticate).
	auth string
}

// Authenticate makes every later call carry key, the one the process was
// given at its start: the plugin answers Vigil's calls only with it.
func (c *Client) Authenticate(key string) { c.auth = key }

// For makes every later call name the policy block and plugin it is for.
func (c *Client) For(block, plugin string) { c.block, c.plugin = block, plugin }

// out adds the key, and the block and plugin, to a call's metadata.
func (c *Client) out(ctx context.Context) context.Context {
	if c.auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, wire.AuthKey, c.auth)
	}
	if c.block == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, wire.BlockKey, c.block, wire.PluginKey, c.plugin)
}

// AuthFDEnv names the variable that tells a plugin which descriptor its
// key comes on (core/pluginhost passes it).
const AuthFDEnv = wire.AuthFDEnv

// Forget ends the block in a shared process (its other blocks go on).
func (c *Client) Forget(ctx context.Context) error {
	if c.block == "" {
		return nil
	}
	_, err := c.base.Configure(metadata.AppendToOutgoingContext(c.out(ctx), wire.ForgetKey, "1"), &pb.ConfigureRequest{})
	return err
}

var kindNames = map[pb.Kind]sdk.Kind{pb.Kind_KIND_CHECK: sdk.KindCheck, pb.Kind_KIND_NOTIFIER: sdk.KindNotifier, pb.Kind_KIND_ACTION: sdk.KindAction}

// sdk.Info asks the plugin who it is.
func (c *Client) Info(ctx context.Context) (sdk.Info, error) {
	r, err := c.base.Info(c.out(ctx), &pb.InfoRequest{})
	if err != nil {
		return sdk.Info{}, err
	}
	c.watch = r.GetWatch()
	return sdk.Info{Name: r.GetName(), Kind: kindNames[r.GetKind()], Version: r.GetVersion()}, nil
}

// CanWatch reports whether the plugin pushes results (known after sdk.Info).
func (c *Client) CanWatch() bool { return c.watch }

// Configure sends the config; refused settings come back as ConfigErrors.
func (c *Client) Configure(ctx context.Context, config map[string]any) error {
	b, err := json.Marshal(config)
	if err != nil {
		return err
	}
	return c.ConfigureJSON(ctx, b)
}

// ConfigureJSON is Configure for a config already encoded.
func (c *Client) ConfigureJSON(ctx context.Context, config []byte) error {
	r, err := c.base.Configure(c.out(ctx), &pb.ConfigureRequest{ConfigJson: config})
	if err != nil {
		return err
	}
	if len(r.GetErrors()) == 0 {
		return nil
	}
	var ces sdk.ConfigErrors
	for _, e := range r.GetErrors() {
		ces = append(ces, sdk.ConfigError{Attribute: e.GetAttribute(), Message: e.GetMessage()})
	}
	return ces
}

// Check runs the check once.
func (c *Client) Check(ctx context.Context) (sdk.Result, error) {
	r, err := c.check.Check(c.out(ctx), &pb.CheckRequest{})
	if err != nil {
		return sdk.Result{}, err
	}
	return sdk.Result{Healthy: r.GetHealthy(), Message: r.GetMessage(), Value: r.Value}, nil
}

// Watch receives pushed results until ctx ends or the stream breaks.
func (c *Client) Watch(ctx context.Context, report func(sdk.Result)) error {
	s, err := c.check.Watch(c.out(ctx), &pb.WatchRequest{})
	if err != nil {
		return err
	}
	for {
		r, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		report(sdk.Result{Healthy: r.GetHealthy(), Message: r.GetMessage(), Value: r.Value})
	}
}

// Notify delivers one event.
func (c *Client) Notify(ctx context.Context, ev sdk.Event) error {
	_, err := c.notifier.Notify(c.out(ctx), &pb.NotifyRequest{Event: &pb.Event{
		Seq: ev.Seq, Site: ev.Site, Node: ev.Node, RouterId: ev.RouterID, Instance: ev.Instance,
		FromState: ev.From, ToState: ev.To, Reason: ev.Reason, UnixNano: ev.Time.UnixNano(),
		Priority: uint32(max(ev.Priority, 0)), Vips: ev.VIPs, Group: ev.Group, PriorityChange: ev.PriorityChange}})
	return err
}

// Run runs the action.
func (c *Client) Run(ctx context.Context, t sdk.Trigger) (sdk.Outcome, string, error) {
	req := &pb.RunRequest{Check: t.Check, Node: t.Node, Instances: t.Instances, Reason: t.Reason}
	if t.CheckConfig != nil {
		b, err := json.Marshal(t.CheckConfig)
		if err != nil {
			return "", "", fmt.Errorf("check config: %w", err)
		}
		req.CheckConfig = b
	}
	r, err := c.action.Run(c.out(ctx), req)
	if err != nil {
		return "", "", err
	}
	switch r.GetOutcome() {
	case pb.Outcome_OUTCOME_RECOVERED:
		return sdk.Recovered, r.GetMessage(), nil
	case pb.Outcome_OUTCOME_YIELD:
		return sdk.Yield, r.GetMessage(), nil
	}
	return "", "", fmt.Errorf("plugin sent outcome %v", r.GetOutcome())
}
