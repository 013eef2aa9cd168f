package sdk

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/vigil-ha/vigil/sdk/internal/proto/v1"
	"github.com/vigil-ha/vigil/sdk/internal/wire"
)

// Serve runs p as a plugin process; it returns when the agent ends the
// plugin. p must implement Check, Notifier or Action.
func Serve(p Base) {
	set, err := pluginSet(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Other plugins run as the same user: they may not attach to this
	// process or read its memory and environment (its config, a password).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "sdk.Serve: cannot make the process undumpable:", err)
		os.Exit(1)
	}
	key, err := readAuthKey()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk.Serve:", err)
		os.Exit(1)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         set,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.ChainUnaryInterceptor(key.unary), grpc.ChainStreamInterceptor(key.stream))...)
		},
		// JSON logs on stderr are read by the agent and tagged with the
		// plugin's name.
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: os.Stderr, JSONFormat: true}),
	})
}

// authKey is the key the agent gave this process at its start; every call
// of a Vigil service must carry it.
type authKey []byte

// readAuthKey reads the key from the pipe the agent passed (wire.AuthFDEnv),
// once: a process that read it first (it could only race us before this
// one became undumpable) leaves this one without a key, and it stops.
func readAuthKey() (authKey, error) {
	fd, err := strconv.Atoi(os.Getenv(wire.AuthFDEnv))
	if err != nil || fd < 3 {
		return nil, errors.New("started without the agent's key (" + wire.AuthFDEnv + "): a plugin is started by vigil agent")
	}
	f := os.NewFile(uintptr(fd), "vigil-auth")
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil || len(b) < 32 {
		return nil, fmt.Errorf("no key from the agent on descriptor %d", fd)
	}
	os.Unsetenv(wire.AuthFDEnv)
	return authKey(b), nil
}

func (k authKey) check(ctx context.Context, method string) error {
	if !strings.HasPrefix(method, wire.VigilServices) {
		return nil // go-plugin's own: health, shutdown, stdio
	}
	md, _ := metadata.FromIncomingContext(ctx)
	got := md.Get(wire.AuthKey)
	if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), k) != 1 {
		return status.Error(codes.Unauthenticated, "only the agent that started this plugin may call it")
	}
	return nil
}

func (k authKey) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := k.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (k authKey) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := k.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

// pluginSet is the go-plugin map serving p under its kind.
func pluginSet(p Base) (plugin.PluginSet, error) {
	if _, ok := p.(wire.Shared); ok {
		// One gRPC server registers each service once: one entry serves
		// every kind.
		return plugin.PluginSet{"shared": &grpcPlugin{check: p.(Check), notifier: p.(Notifier), action: p.(Action)}}, nil
	}
	switch impl := p.(type) {
	case Check:
		return plugin.PluginSet{string(KindCheck): &grpcPlugin{check: impl}}, nil
	case Notifier:
		return plugin.PluginSet{string(KindNotifier): &grpcPlugin{notifier: impl}}, nil
	case Action:
		return plugin.PluginSet{string(KindAction): &grpcPlugin{action: impl}}, nil
	}
	return nil, fmt.Errorf("sdk.Serve: %T implements none of Check, Notifier, Action", p)
}

// grpcPlugin serves one plugin of any kind; the field that is set says
// which (all three for the agent's router of built-ins). The agent's side is package sdk/host.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	check    Check
	notifier Notifier
	action   Action
}

func (g *grpcPlugin) base() Base {
	switch {
	case g.check != nil:
		return g.check
	case g.notifier != nil:
		return g.notifier
	}
	return g.action
}

func (g *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterBaseServer(s, &baseServer{impl: g.base()})
	if g.check != nil {
		pb.RegisterCheckServer(s, &checkServer{impl: g.check})
	}
	if g.notifier != nil {
		pb.RegisterNotifierServer(s, &notifierServer{impl: g.notifier})
	}
	if g.action != nil {
		pb.RegisterActionServer(s, &actionServer{impl: g.action})
	}
	return nil
}

func (g *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("a plugin connects to no plugin")
}

var kinds = map[Kind]pb.Kind{KindCheck: pb.Kind_KIND_CHECK, KindNotifier: pb.Kind_KIND_NOTIFIER, KindAction: pb.Kind_KIND_ACTION}

// --- serving side: gRPC calls to the plugin's Go methods ---

type baseServer struct {
	pb.UnimplementedBaseServer
	impl Base
}

func (s *baseServer) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, err
	}
	_, watch := s.impl.(Watcher)
	if sh, ok := s.impl.(wire.Shared); ok {
		watch = sh.Watches(ctx)
	}
	return &pb.InfoResponse{Name: info.Name, Kind: kinds[info.Kind], Version: info.Version, Watch: watch}, nil
}

func (s *baseServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	cfg := map[string]any{}
	if len(req.ConfigJson) > 0 {
		if err := json.Unmarshal(req.ConfigJson, &cfg); err != nil {
			return nil, fmt.Errorf("config is not a JSON object: %w", err)
		}
	}
	err := s.impl.Configure(ctx, cfg)
	if err == nil {
		return &pb.ConfigureResponse{}, nil
	}
	var ces ConfigErrors
	if !errors.As(err, &ces) {
		ces = ConfigErrors{{Message: err.Error()}}
	}
	resp := &pb.ConfigureResponse{}
	for _, ce := range ces {
		resp.Errors = append(resp.Errors, &pb.ConfigError{Attribute: ce.Attribute, Message: ce.Message})
	}
	return resp, nil
}

type checkServer struct {
	pb.UnimplementedCheckServer
	impl Check
}

func (s *checkServer) Check(ctx context.Context, _ *pb.CheckRequest) (*pb.CheckResult, error) {
	r, err := s.impl.Check(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.CheckResult{Healthy: r.Healthy, Message: r.Message, Value: r.Value}, nil
}

func (s *checkServer) Watch(_ *pb.WatchRequest, stream pb.Check_WatchServer) error {
	w, ok := s.impl.(Watcher)
	if !ok {
		return errors.New("this check does not push results")
	}
	return w.Watch(stream.Context(), func(r Result) {
		stream.Send(&pb.CheckResult{Healthy: r.Healthy, Message: r.Message, Value: r.Value})
	})
}

type notifierServer struct {
	pb.UnimplementedNotifierServer
	impl Notifier
}

func (s *notifierServer) Notify(ctx context.Context, req *pb.NotifyRequest) (*pb.NotifyResponse, error) {
	e := req.GetEvent()
	ev := Event{Seq: e.GetSeq(), Site: e.GetSite(), Node: e.GetNode(), RouterID: e.GetRouterId(), Instance: e.GetInstance(),
		From: e.GetFromState(), To: e.GetToState(), Reason: e.GetReason(), Time: time.Unix(0, e.GetUnixNano()),
		Priority: int(e.GetPriority()), VIPs: e.GetVips(), Group: e.GetGroup(), PriorityChange: e.GetPriorityChange()}
	if err := s.impl.Notify(ctx, ev); err != nil {
		return nil, err
	}
	return &pb.NotifyResponse{}, nil
}

type actionServer struct {
	pb.UnimplementedActionServer
	impl Action
}

func (s *actionServer) Run(ctx context.Context, req *pb.RunRequest) (*pb.RunResponse, error) {
	t := Trigger{Check: req.GetCheck(), Node: req.GetNode(), Instances: req.GetInstances(), Reason: req.GetReason()}
	if b := req.GetCheckConfig(); len(b) > 0 {
		if err := json.Unmarshal(b, &t.CheckConfig); err != nil {
			return nil, fmt.Errorf("check config: %w", err)
		}
	}
	out, msg, err := s.impl.Run(ctx, t)
	if err != nil {
		return nil, err
	}
	o := pb.Outcome_OUTCOME_UNSPECIFIED
	switch out {
	case Recovered:
		o = pb.Outcome_OUTCOME_RECOVERED
	case Yield:
		o = pb.Outcome_OUTCOME_YIELD
	default:
		return nil, fmt.Errorf("action returned unknown outcome %q", out)
	}
	return &pb.RunResponse{Outcome: o, Message: msg}, nil
}
