package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/metadata"

	"github.com/vigil-ha/vigil/sdk"
	"github.com/vigil-ha/vigil/sdk/internal/wire"
)

// Router serves several policy blocks' built-in plugins from one process
// (`vigil plugin --shared`): every call names its block and plugin in the
// gRPC metadata the agent's Client sends, and goes to that block's own
// instance. Blocks share the process's user and fate, nothing else.
type Router struct {
	// New makes a fresh instance of the named plugin.
	New func(plugin string) (sdk.Base, error)

	mu     sync.Mutex
	blocks map[string]routed
}

type routed struct {
	plugin string
	impl   sdk.Base
}

var (
	_ sdk.Check    = (*Router)(nil)
	_ sdk.Watcher  = (*Router)(nil)
	_ sdk.Notifier = (*Router)(nil)
	_ sdk.Action   = (*Router)(nil)
	_ wire.Shared  = (*Router)(nil)
)

// Shared marks the router for sdk.Serve.
func (*Router) Shared(wire.Token) {}

// callFor reads the block and plugin a call is for.
func callFor(ctx context.Context) (block, plugin string, err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	b, p := md.Get(wire.BlockKey), md.Get(wire.PluginKey)
	if len(b) != 1 || len(p) != 1 || b[0] == "" || p[0] == "" {
		return "", "", errors.New("a shared plugin process needs the block and plugin of every call")
	}
	return b[0], p[0], nil
}

// block returns the block's instance, making one when create is set and
// none of that plugin exists.
func (r *Router) block(ctx context.Context, create bool) (sdk.Base, error) {
	b, p, err := callFor(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rt, ok := r.blocks[b]; ok && rt.plugin == p {
		return rt.impl, nil
	}
	if !create {
		return nil, fmt.Errorf("block %q is not configured in this process", b)
	}
	impl, err := r.New(p)
	if err != nil {
		return nil, err
	}
	if r.blocks == nil {
		r.blocks = map[string]routed{}
	}
	r.blocks[b] = routed{p, impl}
	return impl, nil
}

// Info answers for the block's plugin.
func (r *Router) Info(ctx context.Context) (sdk.Info, error) {
	impl, err := r.block(ctx, true)
	if err != nil {
		return sdk.Info{}, err
	}
	return impl.Info(ctx)
}

// Watches reports whether the block's plugin pushes results.
func (r *Router) Watches(ctx context.Context) bool {
	impl, err := r.block(ctx, false)
	_, ok := impl.(sdk.Watcher)
	return err == nil && ok
}

// Configure gives the block a fresh instance configured as asked (a
// reconfigured block starts clean, as a new process would), or ends the
// block when the agent forgets it.
func (r *Router) Configure(ctx context.Context, config map[string]any) error {
	b, p, err := callFor(ctx)
	if err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get(wire.ForgetKey)) > 0 {
		r.mu.Lock()
		rt, ok := r.blocks[b]
		delete(r.blocks, b)
		r.mu.Unlock()
		if c, isCloser := rt.impl.(io.Closer); ok && isCloser {
			return c.Close()
		}
		return nil
	}
	impl, err := r.New(p)
	if err != nil {
		return err
	}
	if err := impl.Configure(ctx, config); err != nil {
		return err
	}
	r.mu.Lock()
	if r.blocks == nil {
		r.blocks = map[string]routed{}
	}
	r.blocks[b] = routed{p, impl}
	r.mu.Unlock()
	return nil
}

// Check runs the block's check.
func (r *Router) Check(ctx context.Context) (sdk.Result, error) {
	impl, err := r.block(ctx, false)
	if err != nil {
		return sdk.Result{}, err
	}
	c, ok := impl.(sdk.Check)
	if !ok {
		return sdk.Result{}, errors.New("this block's plugin is not a check")
	}
	return c.Check(ctx)
}

// Watch streams the block's pushed results.
func (r *Router) Watch(ctx context.Context, report func(sdk.Result)) error {
	impl, err := r.block(ctx, false)
	if err != nil {
		return err
	}
	w, ok := impl.(sdk.Watcher)
	if !ok {
		return errors.New("this check does not push results")
	}
	return w.Watch(ctx, report)
}

// Notify delivers to the block's notifier.
func (r *Router) Notify(ctx context.Context, ev sdk.Event) error {
	impl, err := r.block(ctx, false)
	if err != nil {
		return err
	}
	n, ok := impl.(sdk.Notifier)
	if !ok {
		return errors.New("this block's plugin is not a notifier")
	}
	return n.Notify(ctx, ev)
}

// Run runs the block's action.
func (r *Router) Run(ctx context.Context, t sdk.Trigger) (sdk.Outcome, string, error) {
	impl, err := r.block(ctx, false)
	if err != nil {
		return "", "", err
	}
	a, ok := impl.(sdk.Action)
	if !ok {
		return "", "", errors.New("this block's plugin is not an action")
	}
	return a.Run(ctx, t)
}
