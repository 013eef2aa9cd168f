package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// attack tries, as a plugin gone bad, everything that would let a plugin
// steer the agent, and returns the attacks that worked: forge the
// agent's recovery records, replace its status socket, read its policy,
// signal it, read a sibling plugin process's memory and environment, and
// call a sibling plugin process over its socket.
func attack(c config) (won []string) {
	try := func(what string, f func() error) {
		if err := f(); err == nil {
			won = append(won, what)
		}
	}
	forged := `[{"prefix":"192.0.2.1/24","interface":"eth0"}]`
	try("forged vips.json", func() error { return os.WriteFile(filepath.Join(c.State, "vips.json"), []byte(forged), 0o644) })
	try("forged vmacs.json", func() error {
		return os.WriteFile(filepath.Join(c.State, "vmacs.json"), []byte(`{"parents":{"all":{"forwarding":"1"}}}`), 0o644)
	})
	try("created a file in the state directory", func() error {
		return os.WriteFile(filepath.Join(c.State, "x"), nil, 0o644)
	})
	try("replaced the status socket", func() error {
		if err := os.Remove(c.Socket); err != nil {
			return err
		}
		l, err := net.Listen("unix", c.Socket)
		if err == nil {
			l.Close()
		}
		return err
	})
	try("read the policy", func() error { _, err := os.ReadFile(c.Policy); return err })
	agent := os.Getppid()
	try("signalled the agent", func() error { return syscall.Kill(agent, syscall.SIGSTOP) })
	for _, pid := range siblings(agent) {
		if age(pid) < 2*time.Second {
			// In its first milliseconds, before it makes itself
			// undumpable, a plugin holds nothing to steal: its config
			// and its key come after. Only settled siblings count.
			continue
		}
		try(fmt.Sprintf("read plugin %d's environment", pid), func() error {
			_, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			return err
		})
		try(fmt.Sprintf("read plugin %d's memory", pid), func() error {
			f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
			if err == nil {
				f.Close()
			}
			return err
		})
	}
	for _, sock := range pluginSockets() {
		try("called the plugin process at "+sock, func() error { return callVigil(sock) })
	}
	return won
}

// age is how long pid has run.
func age(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	up, err2 := os.ReadFile("/proc/uptime")
	if err != nil || err2 != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return 0
	}
	start, _ := strconv.ParseFloat(f[19], 64) // clock ticks after boot; USER_HZ is 100 on Linux
	var now float64
	fmt.Sscan(string(up), &now)
	return time.Duration((now - start/100) * float64(time.Second))
}

// siblings are the agent's other children.
func siblings(agent int) (out []int) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 1 && f[1] == strconv.Itoa(agent) {
				out = append(out, pid)
			}
		}
	}
	return out
}

// pluginSockets are go-plugin's sockets in the temporary directory,
// other than this process's own.
func pluginSockets() (out []string) {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "plugin*"))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Mode()&os.ModeSocket != 0 {
			out = append(out, m)
		}
	}
	return out
}

// rawCodec sends bytes already encoded, as a hostile process speaking
// the plugin protocol by hand would.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// callVigil asks the process at sock who it is, as the agent would but
// without the agent's key.
func callVigil(sock string) error {
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "vigil-block", "check web", "vigil-plugin", "http-probe")
	req, resp := []byte{}, []byte{}
	return conn.Invoke(ctx, "/vigil.plugin.v1.Base/Info", &req, &resp)
}
