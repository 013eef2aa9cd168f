package pluginhost

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/sdk/host"
)

// SharedArgs run the agent's own binary as one process serving every
// built-in plugin of the blocks that share it.
var SharedArgs = []string{"plugin", "--shared"}

// proc is one supervised plugin process. A built-in's runs every block of
// the built-ins that run as one user with the same environment (Spec.Shared);
// any other plugin has a process per block.
type proc struct {
	spec Spec // what starts it: Path, Args, SHA256, User, PassEnv, timeouts
	log  hclog.Logger
	key  string // the registry key of a shared process, "" otherwise

	mu        sync.Mutex
	client    *plugin.Client
	rpc       plugin.ClientProtocol
	started   time.Time
	backoff   time.Duration
	nextStart time.Time
	starts    int
	refs      int
}

// shared holds the running shared processes by key.
var shared = struct {
	sync.Mutex
	m map[string]*proc
}{m: map[string]*proc{}}

// acquire returns the process a block's plugin runs on: the shared one for
// its user and environment, started on first use, or one of its own.
func acquire(s Spec, agentLog, blockLog hclog.Logger) *proc {
	if !s.Shared {
		return &proc{spec: s, log: blockLog, backoff: MinBackoff, refs: 1}
	}
	key := strings.Join(append([]string{s.User, s.MaxBackoff.String(), s.Path}, append(s.Args, s.PassEnv...)...), "\x00")
	shared.Lock()
	defer shared.Unlock()
	if pr, ok := shared.m[key]; ok {
		pr.mu.Lock()
		pr.refs++
		pr.mu.Unlock()
		return pr
	}
	user := s.User
	if user == "" {
		user = "root"
	}
	pr := &proc{spec: s, log: agentLog.Named("builtins").With("user", user), key: key, backoff: MinBackoff, refs: 1}
	shared.m[key] = pr
	return pr
}

// release drops a block's hold; the last one stops the process.
func release(pr *proc) {
	if pr.key != "" {
		shared.Lock()
		defer shared.Unlock()
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.refs--; pr.refs > 0 {
		return
	}
	if pr.key != "" {
		delete(shared.m, pr.key)
	}
	if pr.client != nil {
		pr.client.Kill()
		pr.client, pr.rpc = nil, nil
	}
}

// live returns the running process's connection and its start count,
// restarting a dead process once its backoff has passed.
func (pr *proc) live() (plugin.ClientProtocol, int, error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.refs <= 0 {
		return nil, 0, fmt.Errorf("plugin closed")
	}
	if pr.client != nil && !pr.client.Exited() {
		return pr.rpc, pr.starts, nil
	}
	if pr.client != nil {
		// It died since the last call.
		ran := time.Since(pr.started)
		pr.client.Kill()
		pr.client, pr.rpc = nil, nil
		if ran >= StableAfter {
			pr.backoff = MinBackoff
		}
		pr.nextStart = time.Now().Add(pr.backoff)
		pr.log.Warn("plugin exited; restarting", "after", pr.backoff, "ran", ran.Round(time.Millisecond))
		pr.backoff = min(pr.backoff*2, pr.spec.MaxBackoff)
	}
	if wait := time.Until(pr.nextStart); wait > 0 {
		return nil, 0, fmt.Errorf("%w; restart in %v", ErrDown, wait.Round(time.Millisecond))
	}
	if err := pr.start(); err != nil {
		pr.nextStart = time.Now().Add(pr.backoff)
		pr.backoff = min(pr.backoff*2, pr.spec.MaxBackoff)
		return nil, 0, err
	}
	return pr.rpc, pr.starts, nil
}

// failed ends start gen of a process that turned out unusable (it is not
// the plugin asked for, or refused its config): it is stopped and waits
// out its backoff, as if it had not started.
func (pr *proc) failed(gen int) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.starts != gen || pr.client == nil {
		return
	}
	pr.client.Kill()
	pr.client, pr.rpc = nil, nil
	pr.nextStart = time.Now().Add(pr.backoff)
	pr.backoff = min(pr.backoff*2, pr.spec.MaxBackoff)
}

// kill stops the running process; the next call starts a fresh one.
func (pr *proc) kill() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.client != nil {
		pr.client.Kill()
	}
}

func (pr *proc) pid() int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.client == nil || pr.client.Exited() {
		return 0
	}
	if rc := pr.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

func (pr *proc) startCount() int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.starts
}

// start launches the process; pr.mu is held.
func (pr *proc) start() error {
	s := pr.spec
	cred, err := credential(s.User)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.Path, s.Args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	cmd.Env = pluginEnv(s.PassEnv)
	if !s.Builtin {
		// An external binary runs from the descriptor that was checked.
		bin, err := openBinary(s.Path, s.SHA256)
		if err != nil {
			return err
		}
		defer bin.Close()
		afterVerify(s.Path)
		cmd.Path, cmd.ExtraFiles = childBinary, []*os.File{bin}
	}
	nullStdin()
	// An agent run unprivileged holds its capabilities as ambient ones,
	// which an exec that keeps the user passes on: the plugin would get
	// CAP_NET_ADMIN and CAP_NET_RAW. Capabilities are per thread and the
	// child is forked from this one, so this thread drops its ambient set
	// first (the agent itself keeps its permitted and effective sets).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("start plugin %s: drop ambient capabilities: %w", s.Plugin, err)
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  host.Handshake,
		Plugins:          host.Plugins(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           newPluginLogger(pr.log),
		StartTimeout:     s.CallTimeout,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return fmt.Errorf("start plugin %s (%s): %w", s.Plugin, s.Path, err)
	}
	pr.client, pr.rpc, pr.started = client, rpc, time.Now()
	pr.starts++
	if pr.starts > 1 {
		pr.log.Info("plugin restarted", "restarts", pr.starts-1)
	}
	return nil
}
