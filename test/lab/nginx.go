package lab

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// AddNode adds a host to the lab's bridge (192.0.2.host, 2001:db8::host),
// for a backend, a mail server or anything that is not a Vigil node.
func (l *Lab) AddNode(name string, host int) *Node {
	l.t.Helper()
	nd := l.addNode(name, host)
	l.extra = append(l.extra, nd)
	return nd
}

// Listen opens a TCP listener in the node's namespace.
func (n *Node) Listen(addr string) net.Listener {
	n.lab.t.Helper()
	var ln net.Listener
	n.Do(func() {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			n.lab.t.Fatalf("listen on %s %s: %v", n.Name, addr, err)
		}
	})
	return ln
}

// ServeHTTP serves h on port in the node's namespace until the test ends.
func (n *Node) ServeHTTP(port int, h http.Handler) {
	n.lab.t.Helper()
	ln := n.Listen(fmt.Sprintf(":%d", port))
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	n.lab.t.Cleanup(func() { srv.Close() })
	go srv.Serve(ln)
}

// HTTPGet sends GET / with a Host header from this node to addr:port and
// returns the body of a 200 answer.
func (n *Node) HTTPGet(addr netip.Addr, port int, host string, timeout time.Duration) (string, error) {
	return n.HTTPGetPath(addr, port, host, "/", timeout)
}

// HTTPGetPath is HTTPGet for another path.
func (n *Node) HTTPGetPath(addr netip.Addr, port int, host, path string, timeout time.Duration) (string, error) {
	c, err := n.Dial(addr, port, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		k, rerr := resp.Body.Read(buf)
		b.Write(buf[:k])
		if rerr != nil {
			break
		}
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(b.String()))
	}
	return strings.TrimSpace(b.String()), nil
}

// Nginx is Debian's nginx run as a service manager runs it: daemonised,
// its master writing a pid file, a reverse proxy with a name-based virtual
// host. Whatever master runs from its configuration when the test ends is
// killed with its workers.
type Nginx struct {
	node          *Node
	Dir, PIDFile  string
	Conf          string
	port          int
	name, backend string
}

// StartNginxProxy starts nginx on the node: port answers for server name
// with a proxy to backend, adding "X-Served-By: NODE" to each request.
func (n *Node) StartNginxProxy(port int, serverName string, backend netip.AddrPort) *Nginx {
	n.lab.t.Helper()
	Require(n.lab.t, "nginx")
	// Plugins run unprivileged and must reach the pid file.
	os.Chmod(filepath.Dir(n.lab.Dir), 0o755)
	os.Chmod(n.lab.Dir, 0o755)
	x := &Nginx{node: n, Dir: filepath.Join(n.lab.Dir, n.Name+"-nginx"), port: port, name: serverName, backend: backend.String()}
	x.PIDFile, x.Conf = filepath.Join(x.Dir, "nginx.pid"), filepath.Join(x.Dir, "nginx.conf")
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(x.Dir, d), 0o755); err != nil {
			n.lab.t.Fatal(err)
		}
	}
	x.Repair()
	n.lab.t.Cleanup(x.kill)
	x.Start()
	return x
}

// Command is what starts this nginx, for a policy's nginx-action.
func (x *Nginx) Command() []string { return []string{"nginx", "-p", x.Dir, "-c", x.Conf} }

// Start runs the start command in the node's namespace and waits for the
// master.
func (x *Nginx) Start() {
	x.node.lab.t.Helper()
	x.node.MustExec(x.Command()...)
	WaitFor(x.node.lab.t, 5*time.Second, "nginx master on "+x.node.Name, func() bool { return x.MasterPID() > 0 })
}

// MasterPID is the running master's pid from the pid file, or 0.
func (x *Nginx) MasterPID() int {
	b, err := os.ReadFile(x.PIDFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !alive(pid) {
		return 0
	}
	return pid
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	f := ProcStat(strconv.Itoa(pid))
	return len(f) > 0 && f[0] != "Z"
}

// Kill crashes nginx: SIGKILL to the master and its workers at once (the
// workers of a killed master would keep the port).
func (x *Nginx) Kill() {
	x.node.lab.t.Helper()
	pid := x.MasterPID()
	if pid == 0 {
		x.node.lab.t.Fatalf("no nginx master on %s to kill", x.node.Name)
	}
	x.kill()
	// Dead is enough: a zombie waits for whoever reaps orphans here.
	WaitFor(x.node.lab.t, 5*time.Second, "nginx master dead on "+x.node.Name, func() bool { return !alive(pid) })
}

func (x *Nginx) kill() {
	if pid := x.MasterPID(); pid > 0 {
		for _, c := range descendants(pid) {
			syscall.Kill(c, syscall.SIGKILL)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Break makes the configuration invalid, so that nginx cannot be started.
func (x *Nginx) Break() {
	os.WriteFile(x.Conf, []byte("this is not nginx configuration;\n"), 0o644)
}

// Repair writes the working configuration.
func (x *Nginx) Repair() {
	conf := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  upstream backend { server %[2]s; }
  server {
    listen %[3]d;
    server_name %[4]s;
    location / {
      proxy_pass http://backend;
      proxy_set_header X-Served-By %[5]s;
    }
  }
}
`, x.Dir, x.backend, x.port, x.name, x.node.Name)
	if err := os.WriteFile(x.Conf, []byte(conf), 0o644); err != nil {
		x.node.lab.t.Fatal(err)
	}
}
