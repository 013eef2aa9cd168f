// Package api serves a node's live status as JSON over a unix socket, and
// reads it back for `vigil status`.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/vigil-ha/vigil/core/engine"
)

// DefaultSocket is where the agent listens unless told otherwise.
const DefaultSocket = "/run/vigil/vigil.sock"

// Status is the document GET /status returns.
type Status struct {
	Site      string          `json:"site"`
	Node      string          `json:"node"`
	Policy    string          `json:"policy"`
	Instances []engine.Status `json:"instances"`
	Runtime   Runtime         `json:"runtime"`
}

// Runtime is the daemon's own footprint, from the Go runtime.
type Runtime struct {
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse_bytes"`
	StackInuse uint64 `json:"stack_inuse_bytes"`
	Sys        uint64 `json:"sys_bytes"`
	Released   uint64 `json:"heap_released_bytes"`
}

func readRuntime() Runtime {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return Runtime{Goroutines: runtime.NumGoroutine(), HeapInuse: m.HeapInuse, StackInuse: m.StackInuse, Sys: m.Sys, Released: m.HeapReleased}
}

// Server serves status on a unix socket.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	path string
}

// Listen creates the socket (replacing a stale one) and serves status()
// until Close.
func Listen(path string, status func() Status) (*Server, error) {
	if err := os.MkdirAll(dirOf(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s is in use: another agent runs on this node", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	os.Chmod(path, 0o660)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		st := status()
		st.Runtime = readRuntime()
		json.NewEncoder(w).Encode(st)
	})
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln, path: path}
	go s.srv.Serve(ln)
	return s, nil
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
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}
	resp, err := c.Get("http://vigil/status")
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return Status{}, fmt.Errorf("no agent at %s (is vigil agent running? --socket names another path): %w", path, err)
		}
		return Status{}, err
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return Status{}, fmt.Errorf("status from %s: %w", path, err)
	}
	return st, nil
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[:i+1]
		}
	}
	return "."
}
