package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	pb "github.com/vigil-ha/vigil/sdk/internal/proto/v1"
)

// Client is the agent's side of a plugin: the plugin's methods over gRPC,
// in plain Go types. It implements Check, Watcher, Notifier and Action;
// calling one the plugin does not serve returns an error.
type Client struct {
	base     pb.BaseClient
	check    pb.CheckClient
	notifier pb.NotifierClient
	action   pb.ActionClient
	watch    bool
}

var kindNames = map[pb.Kind]Kind{pb.Kind_KIND_CHECK: KindCheck, pb.Kind_KIND_NOTIFIER: KindNotifier, pb.Kind_KIND_ACTION: KindAction}

// Info asks the plugin who it is.
func (c *Client) Info(ctx context.Context) (Info, error) {
	r, err := c.base.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return Info{}, err
	}
	c.watch = r.GetWatch()
	return Info{Name: r.GetName(), Kind: kindNames[r.GetKind()], Version: r.GetVersion()}, nil
}

// CanWatch reports whether the plugin pushes results (known after Info).
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
	r, err := c.base.Configure(ctx, &pb.ConfigureRequest{ConfigJson: config})
	if err != nil {
		return err
	}
	if len(r.GetErrors()) == 0 {
		return nil
	}
	var ces ConfigErrors
	for _, e := range r.GetErrors() {
		ces = append(ces, ConfigError{Attribute: e.GetAttribute(), Message: e.GetMessage()})
	}
	return ces
}

// Check runs the check once.
func (c *Client) Check(ctx context.Context) (Result, error) {
	r, err := c.check.Check(ctx, &pb.CheckRequest{})
	if err != nil {
		return Result{}, err
	}
	return Result{Healthy: r.GetHealthy(), Message: r.GetMessage()}, nil
}

// Watch receives pushed results until ctx ends or the stream breaks.
func (c *Client) Watch(ctx context.Context, report func(Result)) error {
	s, err := c.check.Watch(ctx, &pb.WatchRequest{})
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
		report(Result{Healthy: r.GetHealthy(), Message: r.GetMessage()})
	}
}

// Notify delivers one event.
func (c *Client) Notify(ctx context.Context, ev Event) error {
	_, err := c.notifier.Notify(ctx, &pb.NotifyRequest{Event: &pb.Event{
		Seq: ev.Seq, Site: ev.Site, Node: ev.Node, RouterId: ev.RouterID, Instance: ev.Instance,
		FromState: ev.From, ToState: ev.To, Reason: ev.Reason, UnixNano: ev.Time.UnixNano(),
		Priority: uint32(max(ev.Priority, 0)), Vips: ev.VIPs}})
	return err
}

// Run runs the action.
func (c *Client) Run(ctx context.Context, t Trigger) (Outcome, string, error) {
	req := &pb.RunRequest{Check: t.Check, Node: t.Node, Instances: t.Instances, Reason: t.Reason}
	if t.CheckConfig != nil {
		b, err := json.Marshal(t.CheckConfig)
		if err != nil {
			return "", "", fmt.Errorf("check config: %w", err)
		}
		req.CheckConfig = b
	}
	r, err := c.action.Run(ctx, req)
	if err != nil {
		return "", "", err
	}
	switch r.GetOutcome() {
	case pb.Outcome_OUTCOME_RECOVERED:
		return Recovered, r.GetMessage(), nil
	case pb.Outcome_OUTCOME_YIELD:
		return Yield, r.GetMessage(), nil
	}
	return "", "", fmt.Errorf("plugin sent outcome %v", r.GetOutcome())
}
