// Package lab builds a network of namespaces for tests: N nodes and a client,
// each with eth0 on one bridge that lives in a namespace of its own, using
// only 192.0.2.0/24 and 2001:db8::/64. It starts Vigil or keepalived on a
// node, cuts a node's link, probes addresses, and deletes everything when
// the test ends, passed or failed.
package lab

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Lab is one test's network.
type Lab struct {
	t      testing.TB
	prefix string
	Bridge string // namespace holding the bridge
	Nodes  []*Node
	Client *Node
	Dir    string
	extra  []*Node // AddNode's
}

// Node is a namespace with eth0 on the bridge.
type Node struct {
	lab   *Lab
	Name  string // "n1", "client"
	NS    string
	Addr4 netip.Addr
	Addr6 netip.Addr
	peer  string // bridge-side veth name
}

var seq atomic.Uint32

// Require skips a test that needs root and the tools, or fails it under CI
// (CI=true), where a missing requirement is a broken machine, not a choice.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %s", msg)
		}
		t.Skipf("skipped: %s", msg)
	}
	if os.Geteuid() != 0 {
		missing("needs root for network namespaces (run as root, e.g. sudo make test)")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			missing("needs %s on PATH (apt-get install %s)", tool, debianPackage(tool))
		}
	}
}

func debianPackage(tool string) string {
	switch tool {
	case "ip":
		return "iproute2"
	case "nginx":
		return "nginx-light"
	case "nft":
		return "nftables"
	case "vtysh":
		return "frr"
	case "autoreconf":
		return "autoconf automake libtool"
	case "gcc":
		return "build-essential"
	}
	return tool
}

// New builds a lab with n nodes (n1.. at 192.0.2.11.., 2001:db8::11..) and a
// client (192.0.2.99, 2001:db8::99).
func New(t testing.TB, n int) *Lab {
	t.Helper()
	Require(t)
	id := fmt.Sprintf("vg%d%d", os.Getpid()%10000, seq.Add(1))
	l := &Lab{t: t, prefix: id, Bridge: id + "-br", Dir: t.TempDir()}
	t.Cleanup(l.destroy)
	l.must("ip", "netns", "add", l.Bridge)
	l.mustNS(l.Bridge, "ip", "link", "add", "br0", "type", "bridge")
	l.mustNS(l.Bridge, "ip", "link", "set", "br0", "up")
	l.mustNS(l.Bridge, "ip", "link", "set", "lo", "up")
	for i := 1; i <= n; i++ {
		l.Nodes = append(l.Nodes, l.addNode(fmt.Sprintf("n%d", i), 10+i))
	}
	l.Client = l.addNode("client", 99)
	return l
}

func (l *Lab) addNode(name string, host int) *Node {
	nd := &Node{lab: l, Name: name, NS: l.prefix + "-" + name,
		Addr4: netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", host)),
		Addr6: netip.MustParseAddr(fmt.Sprintf("2001:db8::%d", host)),
		peer:  "v" + name}
	l.must("ip", "netns", "add", nd.NS)
	l.must("ip", "link", "add", "eth0", "netns", nd.NS, "type", "veth", "peer", "name", nd.peer, "netns", l.Bridge)
	l.mustNS(l.Bridge, "ip", "link", "set", nd.peer, "master", "br0", "up")
	l.mustNS(nd.NS, "ip", "link", "set", "lo", "up")
	// No duplicate address detection: the link-local address adverts come
	// from must be usable the moment the link is up.
	l.mustNS(nd.NS, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0")
	l.mustNS(nd.NS, "ip", "addr", "add", nd.Addr4.String()+"/24", "dev", "eth0")
	l.mustNS(nd.NS, "ip", "addr", "add", nd.Addr6.String()+"/64", "dev", "eth0", "nodad")
	l.mustNS(nd.NS, "ip", "link", "set", "eth0", "up")
	return nd
}

func (l *Lab) destroy() {
	for _, nd := range append(append(l.Nodes, l.Client), l.extra...) {
		if nd != nil {
			// Killing every process in the namespace first: a daemon left
			// running would keep its sockets after the namespace is gone.
			if out, err := exec.Command("ip", "netns", "pids", nd.NS).Output(); err == nil {
				for _, pid := range strings.Fields(string(out)) {
					exec.Command("kill", "-9", pid).Run()
				}
			}
			exec.Command("ip", "netns", "del", nd.NS).Run()
		}
	}
	exec.Command("ip", "netns", "del", l.Bridge).Run()
}

func (l *Lab) must(args ...string) string {
	l.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (l *Lab) mustNS(ns string, args ...string) string {
	l.t.Helper()
	return l.must(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// Exec runs a command in the node's namespace and returns its output.
func (n *Node) Exec(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.NS}, args...)...).CombinedOutput()
	return string(out), err
}

// MustExec is Exec that fails the test on error.
func (n *Node) MustExec(args ...string) string {
	n.lab.t.Helper()
	out, err := n.Exec(args...)
	if err != nil {
		n.lab.t.Fatalf("%s on %s: %v\n%s", strings.Join(args, " "), n.Name, err, out)
	}
	return out
}

// HasAddr reports whether addr is configured on the node's eth0.
func (n *Node) HasAddr(addr netip.Addr) bool {
	out, err := n.Exec("ip", "-o", "addr", "show") // any interface: a virtual MAC's too
	if err != nil {
		return false
	}
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr() == addr {
			return true
		}
	}
	return false
}

// CutLink takes the node's port on the bridge down: the node stays up but
// hears nothing and is heard by nobody, like a pulled cable or a hung host.
func (n *Node) CutLink() { n.lab.mustNS(n.lab.Bridge, "ip", "link", "set", n.peer, "down") }

// RestoreLink undoes CutLink.
func (n *Node) RestoreLink() { n.lab.mustNS(n.lab.Bridge, "ip", "link", "set", n.peer, "up") }

// Isolate sets the node's bridge port isolated (or not): isolated ports do
// not reach each other but still reach every other port, so two isolated
// nodes are cut apart while the client reaches both (a split brain).
func (n *Node) Isolate(on bool) {
	n.lab.mustNS(n.lab.Bridge, "bridge", "link", "set", "dev", n.peer, "isolated", map[bool]string{true: "on", false: "off"}[on])
}

// Proc is a process started in a namespace; its output goes to Log.
type Proc struct {
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
	err  error
}

// Start runs a long-lived command in the node's namespace. It is killed when
// the test ends if it is still running.
func (n *Node) Start(name string, args ...string) *Proc {
	n.lab.t.Helper()
	logPath := filepath.Join(n.lab.Dir, fmt.Sprintf("%s-%s.log", n.Name, name))
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.lab.t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.NS}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		n.lab.t.Fatalf("start %s on %s: %v", name, n.Name, err)
	}
	p := &Proc{Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	n.lab.t.Cleanup(func() {
		if p.Running() {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends sig and waits up to timeout for the exit, then kills.
func (p *Proc) Stop(sig os.Signal, timeout time.Duration) error {
	if !p.Running() {
		return p.err
	}
	// The process may exit (and be reaped) between Running and Signal: a
	// daemon that stops in a millisecond after an earlier signal does.
	if err := p.Cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("did not exit within %v of %v", timeout, sig)
	}
}

// Output is what the process has logged so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Count returns how many log lines contain s.
func (p *Proc) Count(s string) int { return bytes.Count([]byte(p.Output()), []byte(s)) }

// WaitFor polls cond every 10ms until it holds or timeout passes, then fails
// the test with what.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// StartKeepalived runs Debian's keepalived (VRRP only, in the foreground,
// logging to the console) on the node with the given configuration.
func (n *Node) StartKeepalived(conf string) *Proc {
	n.lab.t.Helper()
	Require(n.lab.t, "keepalived")
	return n.startKeepalived("keepalived", conf, "--vrrp")
}

// StartNginx runs Debian's nginx in the foreground on the node, answering
// every request on port with "served by NODE".
func (n *Node) StartNginx(port int) *Proc {
	n.lab.t.Helper()
	Require(n.lab.t, "nginx")
	dir := filepath.Join(n.lab.Dir, n.Name+"-nginx")
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		n.lab.t.Fatal(err)
	}
	conf := fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s/tmp;
  server {
    listen %[2]d;
    location / { return 200 "served by %[3]s\n"; }
  }
}
`, dir, port, n.Name)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		n.lab.t.Fatal(err)
	}
	return n.Start("nginx", "nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
}

// KillTree kills the process and every descendant with SIGKILL, as a crash
// would (killing nginx's master alone leaves its workers serving).
func (p *Proc) KillTree() {
	for _, pid := range descendants(p.Cmd.Process.Pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	p.Cmd.Process.Kill()
	<-p.done
}

// descendants lists pid's children, grandchildren and so on, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		f := ProcStat(e.Name())
		if len(f) < 2 {
			continue
		}
		child, err1 := strconv.Atoi(e.Name())
		parent, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil {
			children[parent] = append(children[parent], child)
		}
	}
	var out []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
