// Package pluginhost runs plugins as separate processes through
// hashicorp/go-plugin: it verifies a pinned binary's SHA-256, starts it as an
// unprivileged user, checks it is the plugin the policy asked for, bounds
// every call with a timeout, and restarts a plugin that died with
// exponential backoff. A plugin can fail in any way; the agent goes on.
package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-ha/vigil/sdk"
	"github.com/vigil-ha/vigil/sdk/host"
)

// Spec says which plugin to run and how.
type Spec struct {
	Name   string   // the policy block's name, e.g. check "nginx"
	Plugin string   // the plugin's name, e.g. "nginx-process"
	Kind   sdk.Kind // what the policy uses it as
	Path   string   // binary to run
	Args   []string // arguments, e.g. ["plugin", "nginx-process"] for a built-in
	// Builtin is set for a plugin compiled into this binary (Path is the
	// agent's own executable, re-run with Args).
	Builtin bool
	// Shared runs the block on the one process (Args SharedArgs) serving
	// every shared block with the same User, PassEnv and MaxBackoff: one
	// process instead of one per block, at the price of a common fate (a
	// call that hangs restarts them all). For built-ins only.
	Shared bool
	SHA256 string // expected hex digest of Path; "" means not pinned
	User   string // run as this user; "" or "root" means as the agent
	Group  string // and this group; "" for the user's own
	// PassEnv names variables of the agent's environment the plugin gets
	// besides PATH, LANG, LANGUAGE, LC_* and TZ.
	PassEnv []string
	Config  []byte // the config block as a JSON object
	// CallTimeout bounds every call (default 10s); checks pass their own.
	CallTimeout time.Duration
	// MaxBackoff bounds the wait before a restart (default MaxBackoff).
	MaxBackoff time.Duration
}

// Backoff bounds for restarting a plugin that died.
var (
	MinBackoff = 100 * time.Millisecond
	MaxBackoff = 30 * time.Second
	// StableAfter resets the backoff once a plugin has run this long.
	StableAfter = time.Minute
)

// ErrDown is returned while a dead plugin waits for its next restart.
var ErrDown = errors.New("plugin is down")

// Plugin is one policy block's plugin: a process of its own, or its share
// of the process serving the built-ins that run as one user.
type Plugin struct {
	spec Spec
	log  hclog.Logger
	proc *proc

	mu     sync.Mutex
	impl   *host.Client
	gen    int // the process start impl was configured on
	closed bool

	// lastErr is the last failed call's error, for status; not under mu,
	// which a (re)start holds for as long as the plugin takes to answer.
	lastErr atomic.Pointer[string]
}

// LastError is the last failed call's error, "" if none failed.
func (p *Plugin) LastError() string {
	if e := p.lastErr.Load(); e != nil {
		return *e
	}
	return ""
}

func (p *Plugin) noteErr(err error) {
	if err != nil {
		msg := Clean(err.Error(), MaxMessage)
		p.lastErr.Store(&msg)
	}
}

// Launch starts the plugin, checks its identity and configures it. An error
// here is a policy problem (wrong checksum, unknown user, refused config)
// and is returned as such; later failures are handled by restarting.
func Launch(spec Spec, log hclog.Logger) (*Plugin, error) {
	if spec.CallTimeout == 0 {
		spec.CallTimeout = 10 * time.Second
	}
	if spec.MaxBackoff == 0 {
		spec.MaxBackoff = MaxBackoff
	}
	p := &Plugin{spec: spec, log: log.Named(spec.Plugin).With("for", string(spec.Kind)+" "+spec.Name)}
	p.proc = acquire(spec, log, p.log)
	if _, err := p.live(); err != nil {
		if p.proc.key != "" && errors.Is(err, ErrDown) {
			// The shared process is between restarts: this block joins
			// it when it is back, like the blocks already there.
			return p, nil
		}
		p.Close()
		return nil, err
	}
	return p, nil
}

// credential is the user a plugin runs as, or nil for the agent's own
// (only "" or, for an agent that runs as root, "root" explicitly).
func credential(name, group string) (*syscall.Credential, error) {
	if name == "" {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("plugin user %q: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("plugin user %q has a non-numeric uid/gid", name)
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("plugin group %q: %w", group, err)
		}
		if gid, err = strconv.ParseUint(g.Gid, 10, 32); err != nil {
			return nil, fmt.Errorf("plugin group %q has a non-numeric gid", group)
		}
	}
	euid := os.Geteuid()
	switch {
	case uid == 0 && euid == 0 && group == "":
		return nil, nil // root asked for by name (the policy warns)
	case uid == 0 && euid == 0:
		return &syscall.Credential{Uid: 0, Gid: uint32(gid), Groups: []uint32{}}, nil
	case uid == 0:
		return nil, fmt.Errorf("plugin user %q: the agent runs as uid %d and cannot start plugins as root", name, euid)
	case int(uid) == euid:
		// A plugin as the agent's own user could rewrite its records,
		// replace its socket and signal it: as powerful as the agent.
		return nil, fmt.Errorf("plugin user %q is the agent's own user (uid %d): a plugin must run as a user of its own (the package's vigil-plugin)", name, uid)
	case euid != 0 && !inGroup(int(gid)):
		// The plugin's socket is its user's, group-writable for its
		// group: the agent must be in that group to connect.
		return nil, fmt.Errorf("plugin user %q: the agent (uid %d) is not a member of its group %d and could not reach its socket (the unit's SupplementaryGroups=vigil-plugin)", name, euid, gid)
	}
	// No supplementary groups: the agent's (root's gid 0, and under sudo
	// or in containers disk, adm ...) are not the plugin's to keep.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

func inGroup(gid int) bool {
	if os.Getegid() == gid {
		return true
	}
	groups, _ := os.Getgroups()
	for _, g := range groups {
		if g == gid {
			return true
		}
	}
	return false
}

// live returns the block's plugin on a running process, restarting a dead
// process when its backoff has passed and configuring the block on a
// process started since it was last configured.
func (p *Plugin) live() (*host.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("plugin closed")
	}
	rpc, key, gen, err := p.proc.live()
	if err != nil {
		return nil, err
	}
	if p.impl != nil && p.gen == gen {
		return p.impl, nil
	}
	impl, err := p.attach(rpc, key)
	if err != nil {
		if p.proc.key == "" {
			p.proc.failed(gen) // the process is this block's alone
		}
		return nil, err
	}
	p.impl, p.gen = impl, gen
	return impl, nil
}

// attach checks that the process serves the plugin the policy asked for
// and configures the block on it.
func (p *Plugin) attach(rpc plugin.ClientProtocol, key string) (*host.Client, error) {
	s := p.spec
	raw, err := rpc.Dispense(string(s.Kind))
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", s.Plugin, err)
	}
	impl := raw.(*host.Client)
	impl.Authenticate(key)
	if p.proc.key != "" {
		impl.For(string(s.Kind)+" "+s.Name, s.Plugin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.CallTimeout)
	defer cancel()
	info, err := impl.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugin %s did not say who it is: %w", s.Plugin, err)
	}
	if info.Name != s.Plugin || info.Kind != s.Kind {
		return nil, fmt.Errorf("%s is plugin %q of kind %s, but the policy wants %q of kind %s", s.Path, info.Name, info.Kind, s.Plugin, s.Kind)
	}
	config := s.Config
	if len(config) == 0 {
		config = []byte("{}")
	}
	if err := impl.ConfigureJSON(ctx, config); err != nil {
		return nil, fmt.Errorf("plugin %s refused its config: %w", s.Plugin, err)
	}
	return impl, nil
}

// call runs f on a live plugin with the call timeout (or timeout if
// positive). A call that times out kills the plugin: a plugin that hangs
// once is likely to hang again, and a fresh process is the cure.
func (p *Plugin) call(ctx context.Context, timeout time.Duration, f func(context.Context, *host.Client) error) (err error) {
	defer func() { p.noteErr(err) }()
	impl, err := p.live()
	if err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = p.spec.CallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = f(ctx, impl)
	// The plugin's side learns the deadline too (gRPC sends it along) and
	// may end the call a moment before this side's timer fires: either way
	// the plugin did not answer in time.
	if err != nil && (ctx.Err() == context.DeadlineExceeded || status.Code(err) == codes.DeadlineExceeded) {
		err = fmt.Errorf("plugin %s timed out after %v", p.spec.Plugin, timeout)
		if p.proc.key != "" && p.proc.answers() {
			// The process serves other blocks and still answers: the
			// call is cancelled (gRPC tells the plugin), the others go on.
			p.log.Warn("plugin call timed out; cancelled", "timeout", timeout)
			return err
		}
		p.log.Warn("plugin call timed out; killing it", "timeout", timeout)
		p.proc.kill()
	}
	return err
}

// Check runs the check, bounded by timeout.
func (p *Plugin) Check(ctx context.Context, timeout time.Duration) (sdk.Result, error) {
	var r sdk.Result
	err := p.call(ctx, timeout, func(ctx context.Context, c *host.Client) (err error) {
		r, err = c.Check(ctx)
		return err
	})
	r.Message = Clean(r.Message, MaxMessage)
	return r, cleanErr(err)
}

// CanWatch reports whether the running plugin pushes check results.
func (p *Plugin) CanWatch() bool {
	impl, err := p.live()
	return err == nil && impl.CanWatch()
}

// Watch streams pushed results until ctx ends or the plugin dies.
func (p *Plugin) Watch(ctx context.Context, report func(sdk.Result)) error {
	impl, err := p.live()
	if err != nil {
		return err
	}
	return cleanErr(impl.Watch(ctx, func(r sdk.Result) {
		r.Message = Clean(r.Message, MaxMessage)
		report(r)
	}))
}

// cleanErr bounds and escapes an error's text, which may be the plugin's.
func cleanErr(err error) error {
	if err == nil {
		return nil
	}
	if msg := err.Error(); Clean(msg, MaxMessage) != msg {
		return pluginError{Clean(msg, MaxMessage), err}
	}
	return err
}

type pluginError struct {
	msg string
	err error
}

func (e pluginError) Error() string { return e.msg }
func (e pluginError) Unwrap() error { return e.err }

// Notify delivers one event.
func (p *Plugin) Notify(ctx context.Context, ev sdk.Event) error {
	return cleanErr(p.call(ctx, 0, func(ctx context.Context, c *host.Client) error { return c.Notify(ctx, ev) }))
}

// Run runs the action.
func (p *Plugin) Run(ctx context.Context, t sdk.Trigger) (sdk.Outcome, string, error) {
	var out sdk.Outcome
	var msg string
	err := p.call(ctx, 0, func(ctx context.Context, c *host.Client) (err error) {
		out, msg, err = c.Run(ctx, t)
		return err
	})
	return out, Clean(msg, MaxMessage), cleanErr(err)
}

// Pid is the running process's id, 0 when none runs.
func (p *Plugin) Pid() int { return p.proc.pid() }

// Starts is how many times the process was started.
func (p *Plugin) Starts() int { return p.proc.startCount() }

// Close stops the plugin for good: its process, or its part of a shared one.
func (p *Plugin) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.impl != nil && p.proc.key != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p.impl.Forget(ctx) // best effort: the process may be gone
		cancel()
	}
	release(p.proc)
}
