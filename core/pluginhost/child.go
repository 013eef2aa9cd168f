package pluginhost

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/caps"
)

// Child is a helper process of the agent's own that is not a plugin (the
// BGP speaker, which talks over its standard input and output), started
// with a plugin's guarantees: the binary is checked on an open descriptor
// and run from it, it runs as the given user (never the agent's), with
// no capability and a cleaned environment, forked from a thread of its
// own that ends with it (its parent-death signal: the child dies with the
// agent, and Kill needs no CAP_KILL).
type Child struct {
	cmd    *exec.Cmd
	thread *spawner
	done   chan struct{}
	once   sync.Once
	err    error
}

// StartChild starts path with args as user (and group), its standard
// input and output connected to stdin and stdout; its standard error is
// its log (hclog's JSON lines, or plain lines), written to log as a
// plugin's is: cleaned and rate-limited.
func StartChild(path string, args []string, user, group string, stdin io.Reader, stdout io.Writer, log hclog.Logger) (*Child, error) {
	cred, err := credential(user, group)
	if err != nil {
		return nil, err
	}
	bin, err := openBinary(path, "")
	if err != nil {
		return nil, err
	}
	defer bin.Close()
	cmd := exec.Command(path, args...)
	cmd.Path, cmd.ExtraFiles = childBinary, []*os.File{bin}
	cmd.Args[0] = path
	cmd.Env = pluginEnv(nil)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	logr, logw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logw
	go relayLog(logr, newPluginLogger(log))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	var raise []caps.Cap
	if cred != nil {
		raise = []caps.Cap{caps.SetUID, caps.SetGID}
	}
	th, err := spawn(raise, cmd.Start)
	logw.Close() // the child's copy is what keeps it open now
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	c := &Child{cmd: cmd, thread: th, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// Done is closed when the process has exited; Err then says how.
func (c *Child) Done() <-chan struct{} { return c.done }

// Err is how the process ended, once Done is closed.
func (c *Child) Err() error { <-c.done; return c.err }

// Pid is the process's id, for logs.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Signal sends sig to the process (a child of another user: the agent
// may signal it only as root; unprivileged, close its input instead).
func (c *Child) Signal(sig os.Signal) error { return c.cmd.Process.Signal(sig) }

// Kill ends the process at once, by ending the thread it was forked from,
// and waits for it.
func (c *Child) Kill() {
	c.once.Do(c.thread.kill)
	<-c.done
}

// relayLog writes the child's log lines to log until the child closes its
// standard error. A JSON line is hclog's: its level, message and fields
// are kept.
func relayLog(r io.ReadCloser, log hclog.Logger) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Bytes()
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			log.Info(string(line))
			continue
		}
		msg, _ := rec["@message"].(string)
		lvl, _ := rec["@level"].(string)
		var args []any
		for _, k := range slices.Sorted(maps.Keys(rec)) {
			if !strings.HasPrefix(k, "@") {
				args = append(args, k, fmt.Sprint(rec[k]))
			}
		}
		log.Log(hclog.LevelFromString(lvl), msg, args...)
	}
}
