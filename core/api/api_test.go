package api

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/engine"
)

func serve(t *testing.T, gid int) (string, *Server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.sock")
	s, err := Listen(path, gid, func() Status { return Status{Site: "lab", Node: "n1"} })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path, s
}

// The socket is root's alone (0600), or its group's too (0660) when the
// policy names one; it is never left behind in its staging directory.
func TestSocketMode(t *testing.T) {
	path, _ := serve(t, -1)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want srw-------", st.Mode())
	}
	if got, err := Fetch(path); err != nil || got.Node != "n1" {
		t.Fatalf("fetch: %+v %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("socket directory holds %d entries, want the socket alone", len(entries))
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: giving the socket to another group needs root")
	}
	path, _ = serve(t, 65534)
	st, _ = os.Stat(path)
	if st.Mode().Perm() != 0o660 || st.Sys().(*syscall.Stat_t).Gid != 65534 {
		t.Errorf("group socket: mode %v gid %d, want 0660 and 65534", st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Gid)
	}
}

// Clients that connect and say nothing cost a bounded number of
// goroutines, and the socket answers once they are gone.
func TestClientsAreBounded(t *testing.T) {
	path, _ := serve(t, -1)
	before := runtime.NumGoroutine()
	var conns []net.Conn
	for range 64 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	time.Sleep(200 * time.Millisecond)
	if grown := runtime.NumGoroutine() - before; grown > 3*MaxClients {
		t.Errorf("64 idle clients grew the agent by %d goroutines, want at most %d", grown, 3*MaxClients)
	}
	for _, c := range conns {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := Fetch(path); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("status unreachable after the idle clients left: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Many status requests in a row (vigil status --watch, a monitoring
// script) never use up the client slots.
func TestManyRequestsInARow(t *testing.T) {
	path, _ := serve(t, -1)
	for i := range 4 * MaxClients {
		if _, err := Fetch(path); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
}

// With no agent, the error names the socket and says what to do, without
// the internal URL.
func TestNoAgent(t *testing.T) {
	_, err := Fetch(filepath.Join(t.TempDir(), "none.sock"))
	if err == nil || !strings.Contains(err.Error(), "no agent at") || strings.Contains(err.Error(), "http://") {
		t.Errorf("error %v", err)
	}
}

// fakeAgent answers GET /status on a socket with body, as anything that
// took the socket's place could.
func fakeAgent(t *testing.T, body func(w io.Writer)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { body(w) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return path
}

// TestFetchTrustsNothing: a status read back is bounded in size, and its
// strings (map keys included) reach the terminal as one printable line
// each: no escape sequence, no forged line.
func TestFetchTrustsNothing(t *testing.T) {
	evil := "VI_1\x1b[2J\nVI_2 entering MASTER state"
	sock := fakeAgent(t, func(w io.Writer) {
		json.NewEncoder(w).Encode(Status{Site: evil, Instances: []engine.Status{{Name: evil, Counters: map[string]uint64{evil: 1}}},
			Checks: []Check{{Name: "c", Message: strings.Repeat("x", 1<<20)}}})
	})
	st, err := Fetch(sock)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{st.Site, st.Instances[0].Name, st.Checks[0].Message} {
		if strings.ContainsAny(s, "\x1b\n") || len(s) > maxField+64 {
			t.Errorf("string not made safe: %.80q (%d bytes)", s, len(s))
		}
	}
	for k := range st.Instances[0].Counters {
		if strings.ContainsAny(k, "\x1b\n") {
			t.Errorf("counter name not made safe: %q", k)
		}
	}

	huge := fakeAgent(t, func(w io.Writer) {
		w.Write([]byte(`{"site":"`))
		chunk := []byte(strings.Repeat("x", 1<<20))
		for range MaxStatusBytes>>20 + 2 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		w.Write([]byte(`"}`))
	})
	if _, err := Fetch(huge); err == nil {
		t.Error("a status larger than MaxStatusBytes was read whole")
	}
}
