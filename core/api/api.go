// Package api serves a node's live status as JSON over a unix socket, and
// reads it back for `vigil status`.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime/metrics"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/core/bgp"
	"github.com/vigil-ha/vigil/core/caps"
	"github.com/vigil-ha/vigil/core/engine"
	"github.com/vigil-ha/vigil/core/safetext"
)

// DefaultSocket is where the agent listens unless told otherwise.
const DefaultSocket = "/run/vigil/vigil.sock"

// Status is the document GET /status returns.
type Status struct {
	Site      string          `json:"site"`
	Node      string          `json:"node"`
	Policy    string          `json:"policy"`
	Instances []engine.Status `json:"instances"`
	Checks    []Check         `json:"checks"`
	Notifiers []Notifier      `json:"notifiers"`
	// BGP is the BGP speaker's sessions and routes; nil when this node
	// runs none.
	BGP     *bgp.Status `json:"bgp,omitempty"`
	Runtime Runtime     `json:"runtime"`
}

// Check is one health check and the plugin process serving it.
type Check struct {
	Name    string `json:"name"`
	Plugin  string `json:"plugin"`
	Failing bool   `json:"failing"`
	Message string `json:"message,omitempty"` // of the last change
	// LastDuration is the last polled run's (0 for pushed results).
	LastDuration time.Duration `json:"last_duration_ns"`
	Pid          int           `json:"pid"` // 0 while down
	Restarts     int           `json:"restarts"`
	LastError    string        `json:"last_error,omitempty"` // of a call to the plugin
}

// Notifier is one notifier's backlog and plugin process.
type Notifier struct {
	Name      string        `json:"name"`
	Plugin    string        `json:"plugin"`
	Pending   int           `json:"pending"`
	Oldest    time.Duration `json:"oldest_ns"` // how long the oldest waiting event has waited
	Pid       int           `json:"pid"`
	Restarts  int           `json:"restarts"`
	LastError string        `json:"last_error,omitempty"`
}

// Runtime is the daemon's own footprint, from the Go runtime.
type Runtime struct {
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse_bytes"`
	StackInuse uint64 `json:"stack_inuse_bytes"`
	Sys        uint64 `json:"sys_bytes"`
	Released   uint64 `json:"heap_released_bytes"`
}

// readRuntime reads runtime/metrics, which, unlike runtime.ReadMemStats,
// does not stop the world: a status request never pauses the engine.
func readRuntime() Runtime {
	samples := []metrics.Sample{
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(samples)
	v := func(i int) uint64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return samples[i].Value.Uint64()
		}
		return 0
	}
	return Runtime{Goroutines: int(v(0)), HeapInuse: v(1) + v(2), StackInuse: v(3), Sys: v(4), Released: v(5)}
}

// Server serves status on a unix socket.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	path string
}

// MaxClients bounds the status requests served at once; more wait in the
// socket's backlog.
const MaxClients = 8

// Listen creates the socket (replacing a stale one) and serves status()
// until Close. The socket is reachable only once it has its final mode:
// 0600, or 0660 with group gid when gid >= 0. Clients are bounded in
// number and in time.
func Listen(path string, gid int, status func() Status) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s is in use: another agent runs on this node", path)
	}
	ln, err := listenPrivate(path, gid)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		st := status()
		st.Runtime = readRuntime()
		json.NewEncoder(w).Encode(st)
	})
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, IdleTimeout: time.Second, MaxHeaderBytes: 8 << 10},
		ln: netutil.LimitListener(ln, MaxClients), path: path}
	go s.srv.Serve(s.ln)
	return s, nil
}

// listenPrivate binds the socket inside a fresh directory only root can
// enter, gives it its mode and group there, and renames it to path: there
// is no moment when path is a socket with looser permissions.
func listenPrivate(path string, gid int) (*net.UnixListener, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".vigil-sock-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	staged := filepath.Join(tmp, "s")
	ln, err := bindWithGroup(staged, gid)
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false) // it is renamed; Close removes path
	mode := os.FileMode(0o600)
	if gid >= 0 {
		mode = 0o660
	}
	if err == nil {
		err = os.Chmod(staged, mode)
	}
	if err == nil {
		os.Remove(path) // a stale socket of a dead agent
		err = os.Rename(staged, path)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("status socket %s: %w", path, err)
	}
	return ln, nil
}

// bindWithGroup binds the socket at path, created with group gid (-1:
// the agent's own). The group comes from the thread's file system gid
// while it binds, which needs only the CAP_SETGID an agent holds to start
// plugins as their group, not CAP_CHOWN and chown.
func bindWithGroup(path string, gid int) (*net.UnixListener, error) {
	bind := func() (*net.UnixListener, error) {
		return net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	}
	if gid < 0 || gid == os.Getegid() {
		return bind()
	}
	var ln *net.UnixListener
	err := caps.With([]caps.Cap{caps.SetGID}, func() error {
		// setfsgid answers with the previous value whatever happens;
		// asking again with -1 (never valid) reads the one in force.
		old, _ := unix.SetfsgidRetGid(gid)
		defer unix.SetfsgidRetGid(old)
		if cur, _ := unix.SetfsgidRetGid(-1); cur != gid {
			return fmt.Errorf("status socket group %d: the agent may not take it (it needs CAP_SETGID)", gid)
		}
		var err error
		ln, err = bind()
		return err
	})
	return ln, err
}

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	os.Remove(s.path)
	return err
}

// Fetch reads the status from the agent listening on path.
func Fetch(path string) (Status, error) {
	// One request per connection: a kept-alive idle connection would
	// hold one of the agent's MaxClients slots.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}
	resp, err := c.Get("http://vigil/status")
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return Status{}, fmt.Errorf("no agent at %s (is vigil agent running? --socket names another path): %v", path, op.Err)
		}
		return Status{}, fmt.Errorf("status from %s: %v", path, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	// Whatever answers on the socket is read as untrusted: at most
	// MaxStatusBytes, every string made one printable line.
	body := io.LimitReader(resp.Body, MaxStatusBytes+1)
	var st Status
	dec := json.NewDecoder(body)
	if err := dec.Decode(&st); err != nil {
		if n, _ := io.Copy(io.Discard, body); n > 0 || errors.Is(err, io.ErrUnexpectedEOF) {
			return Status{}, fmt.Errorf("status from %s: larger than %d bytes or cut short: %w", path, MaxStatusBytes, err)
		}
		return Status{}, fmt.Errorf("status from %s: %w", path, err)
	}
	cleanStrings(reflect.ValueOf(&st).Elem())
	return st, nil
}

// MaxStatusBytes bounds the status document a client reads (a node with
// thousands of instances writes a few MiB).
const MaxStatusBytes = 64 << 20

// maxField bounds each string of a status read back.
const maxField = 4096

// cleanStrings escapes and bounds every string reachable from v.
func cleanStrings(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(safetext.Clean(v.String(), maxField))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			cleanStrings(v.Field(i))
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			cleanStrings(v.Index(i))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			cleanStrings(v.Elem())
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			cleanStrings(e)
			nk := k
			if k.Kind() == reflect.String {
				v.SetMapIndex(k, reflect.Value{})
				nk = reflect.ValueOf(safetext.Clean(k.String(), maxField)).Convert(k.Type())
			}
			v.SetMapIndex(nk, e)
		}
	}
}
