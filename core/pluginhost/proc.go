package pluginhost

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/vigil-ha/vigil/core/caps"
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
	thread    *spawner // the thread the running process was forked from
	authKey   string   // the running process's key: only calls with it are answered
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
	key := strings.Join(append([]string{s.User, s.Group, s.MaxBackoff.String(), s.Path}, append(s.Args, s.PassEnv...)...), "\x00")
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
		pr.stop()
		pr.client, pr.rpc, pr.thread = nil, nil, nil
	}
}

// stop ends the process: go-plugin asks it to exit and waits 2 s; one
// that has not exited by then is killed (go-plugin's own kill cannot reach
// a plugin of another user from an agent that is not root, and would wait
// for it forever). pr.mu is held.
func (pr *proc) stop() {
	th := pr.thread
	t := time.AfterFunc(2500*time.Millisecond, th.kill)
	defer t.Stop()
	pr.client.Kill()
	th.kill() // the process is gone; so goes its thread
}

// hardKill kills the running process at once.
func (pr *proc) hardKill() { pr.thread.kill() }

// spawner is the OS thread a plugin process is forked from, held for the
// process's life. The process has Pdeathsig SIGKILL, which the kernel
// sends when the thread that forked it exits: ending the spawner kills the
// process, whatever its user, without CAP_KILL and without a pid that
// could be reused.
type spawner struct {
	once  sync.Once
	end   chan struct{}
	ended chan struct{}
}

// spawn runs start on a thread of its own, locked for good, with raise
// effective there for the call (caps.With).
func spawn(raise []caps.Cap, start func() error) (*spawner, error) {
	sp := &spawner{end: make(chan struct{}), ended: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		defer close(sp.ended)
		// Never unlocked: the runtime ends the thread with this goroutine.
		runtime.LockOSThread()
		err := caps.With(raise, start)
		errc <- err
		if err == nil {
			<-sp.end
		}
	}()
	if err := <-errc; err != nil {
		<-sp.ended
		return nil, err
	}
	return sp, nil
}

// kill ends the thread, and so the process; it returns once the thread
// is gone. A nil spawner does nothing.
func (sp *spawner) kill() {
	if sp == nil {
		return
	}
	sp.once.Do(func() { close(sp.end) })
	<-sp.ended
}

// live returns the running process's connection, its key and its start
// count, restarting a dead process once its backoff has passed.
func (pr *proc) live() (plugin.ClientProtocol, string, int, error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.refs <= 0 {
		return nil, "", 0, fmt.Errorf("plugin closed")
	}
	if pr.client != nil && !pr.client.Exited() {
		return pr.rpc, pr.authKey, pr.starts, nil
	}
	if pr.client != nil {
		// It died since the last call.
		ran := time.Since(pr.started)
		pr.stop()
		pr.client, pr.rpc, pr.thread = nil, nil, nil
		if ran >= StableAfter {
			pr.backoff = MinBackoff
		}
		pr.nextStart = time.Now().Add(pr.backoff)
		pr.log.Warn("plugin exited; restarting", "after", pr.backoff, "ran", ran.Round(time.Millisecond))
		pr.backoff = min(pr.backoff*2, pr.spec.MaxBackoff)
	}
	if wait := time.Until(pr.nextStart); wait > 0 {
		return nil, "", 0, fmt.Errorf("%w; restart in %v", ErrDown, wait.Round(time.Millisecond))
	}
	if err := pr.start(); err != nil {
		pr.nextStart = time.Now().Add(pr.backoff)
		pr.backoff = min(pr.backoff*2, pr.spec.MaxBackoff)
		return nil, "", 0, err
	}
	return pr.rpc, pr.authKey, pr.starts, nil
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
	pr.stop()
	pr.client, pr.rpc, pr.thread = nil, nil, nil
	pr.nextStart = time.Now().Add(pr.backoff)
	pr.backoff = min(pr.backoff*2, pr.spec.MaxBackoff)
}

// kill stops the running process at once; the next call starts a fresh
// one.
func (pr *proc) kill() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.client != nil {
		pr.hardKill()
		pr.stop()
	}
}

// answers reports whether the process still serves at all (go-plugin's
// health service, answered by the server's own goroutines): a call of one
// block that timed out in a shared process cancels that call alone unless
// the whole process is stuck.
func (pr *proc) answers() bool {
	pr.mu.Lock()
	rpc := pr.rpc
	pr.mu.Unlock()
	if rpc == nil {
		return false
	}
	done := make(chan error, 1)
	go func() { done <- rpc.Ping() }()
	select {
	case err := <-done:
		return err == nil
	case <-time.After(PingTimeout):
		return false
	}
}

// PingTimeout bounds the health probe of a shared process after a call
// timed out.
var PingTimeout = 2 * time.Second

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
	cred, err := credential(s.User, s.Group)
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
	// The process's key, on a pipe it reads once at start: a key in its
	// environment or arguments could be read by another process of its
	// user from /proc.
	keyBytes := make([]byte, 32)
	if _, err := rand.Read(keyBytes); err != nil {
		return fmt.Errorf("start plugin %s: key: %w", s.Plugin, err)
	}
	key := hex.EncodeToString(keyBytes)
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start plugin %s: %w", s.Plugin, err)
	}
	defer r.Close()
	_, err = w.WriteString(key) // 64 bytes: less than a pipe holds, never blocks
	w.Close()
	if err != nil {
		return fmt.Errorf("start plugin %s: key: %w", s.Plugin, err)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, r)
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", host.AuthFDEnv, 2+len(cmd.ExtraFiles)))
	nullStdin()
	config := &plugin.ClientConfig{
		HandshakeConfig:  host.Handshake,
		Plugins:          host.Plugins(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           newPluginLogger(pr.log),
		StartTimeout:     s.CallTimeout,
	}
	var raise []caps.Cap
	if cred != nil {
		// The plugin makes its socket as its own user: it gives it its
		// own group, which the agent is a member of (checked).
		config.UnixSocketConfig = &plugin.UnixSocketConfig{Group: strconv.FormatUint(uint64(cred.Gid), 10)}
		raise = []caps.Cap{caps.SetUID, caps.SetGID}
	}
	client := plugin.NewClient(config)
	var rpc plugin.ClientProtocol
	// The child is forked from a thread of its own (spawn), with
	// CAP_SETUID and CAP_SETGID effective there alone (to become its
	// user) and nothing inheritable or ambient (an agent run unprivileged
	// holds CAP_NET_ADMIN and CAP_NET_RAW as ambient capabilities, which
	// an exec would pass on). A start that fails ends that thread, and
	// with it whatever had started.
	th, err := spawn(raise, func() (err error) {
		rpc, err = client.Client()
		return err
	})
	if err != nil {
		client.Kill()
		return fmt.Errorf("start plugin %s (%s): %w", s.Plugin, s.Path, err)
	}
	pr.client, pr.thread, pr.rpc, pr.authKey, pr.started = client, th, rpc, key, time.Now()
	pr.starts++
	if pr.starts > 1 {
		pr.log.Info("plugin restarted", "restarts", pr.starts-1)
	}
	return nil
}
