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
	"google.golang.org/grpc/health/grpc_health_v1"
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
		try("called the plugin process at "+sock, func() error { return callHealth(sock) })
	}
	return won
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

func callHealth(sock string) error {
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
	return err
}
