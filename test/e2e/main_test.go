// Package e2e runs Vigil and keepalived nodes in a lab of network
// namespaces (test/lab) and checks what operators rely on: who owns each
// address, failover, interop, reload.
package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/test/lab"
)

var vigilBin, testPluginBin, fileCheckBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-e2e")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // plugins run as nobody and must reach their binaries
	vigilBin, testPluginBin, fileCheckBin = filepath.Join(dir, "vigil"), filepath.Join(dir, "testplugin"), filepath.Join(dir, "file-check")
	for _, b := range []struct{ out, dir, pkg string }{
		{vigilBin, "../..", "./cmd/vigil"},
		{filepath.Join(dir, "vigil-bgp"), "../..", "./cmd/vigil-bgp"}, // beside vigil, where the agent looks first
		{testPluginBin, "../..", "./core/pluginhost/testdata/testplugin"},
		{fileCheckBin, "../../sdk/examples/file-check", "."},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = b.dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as the Makefile builds it
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const probePort = 8088

// site describes a lab site policy: one VIP per node, each node MASTER (100)
// of its own and backing up the others at 80 and 60, as in the seed.
type site struct {
	version  int
	interval string
	v6       bool
	auth     string // PASS password, "" for none
	unicast  bool   // adverts to the other nodes' addresses, not multicast
}

// vipOf is the VIP node i (0-based) is master of.
func (s site) vipOf(i int) netip.Addr {
	if s.v6 {
		return netip.MustParseAddr(fmt.Sprintf("2001:db8::%d", 101+i))
	}
	return netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", 101+i))
}

// policy writes the HCL for the first `nodes` lab nodes running the first
// `instances` instances (VI_1 ...) into the lab's directory.
func (s site) policy(t *testing.T, l *lab.Lab, nodes, instances int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "site \"lab\" {}\n\n")
	for _, n := range l.Nodes[:nodes] {
		addr := n.Addr4
		if s.v6 {
			addr = n.Addr6
		}
		fmt.Fprintf(&b, "node %q {\n  interface = \"eth0\"\n  address   = %q\n}\n\n", n.Name, addr)
	}
	prios := [][]int{{100, 60, 80}, {80, 100, 60}, {60, 80, 100}}
	for i := 0; i < instances; i++ {
		var pm []string
		for j, n := range l.Nodes[:nodes] {
			pm = append(pm, fmt.Sprintf("%s = %d", n.Name, prios[i][j%3]))
		}
		bits := 24
		if s.v6 {
			bits = 64
		}
		fmt.Fprintf(&b, "instance \"VI_%d\" {\n  vrid            = %d\n  version         = %d\n  advert_interval = %q\n  vips            = [\"%s/%d\"]\n  priority        = { %s }\n",
			i+1, 21+i, s.version, s.interval, s.vipOf(i), bits, strings.Join(pm, ", "))
		if s.unicast {
			b.WriteString("  unicast         = true\n")
		}
		if s.unicast && s.v6 {
			// keepalived sends IPv6 unicast adverts at the kernel's hop
			// limit (64): it sets only the multicast one to 255.
			b.WriteString("  unicast_min_ttl = 64\n")
		}
		if s.auth != "" {
			fmt.Fprintf(&b, "\n  auth {\n    type     = \"pass\"\n    password = %q\n  }\n", s.auth)
		}
		b.WriteString("}\n\n")
	}
	path := filepath.Join(l.Dir, "site.hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// vigilNode is a running Vigil agent on a lab node.
type vigilNode struct {
	*lab.Proc
	node   *lab.Node
	socket string
}

func startVigil(t *testing.T, l *lab.Lab, n *lab.Node, policy string) *vigilNode {
	t.Helper()
	sock := filepath.Join(l.Dir, n.Name+".sock")
	p := n.Start("vigil", vigilBin, "agent", "--policy", policy, "--node", n.Name,
		"--state-dir", filepath.Join(l.Dir, n.Name+"-state"), "--socket", sock, "--log-level", "debug")
	v := &vigilNode{Proc: p, node: n, socket: sock}
	lab.WaitFor(t, 5*time.Second, n.Name+" status socket", func() bool {
		if !p.Running() {
			t.Fatalf("vigil on %s exited:\n%s", n.Name, p.Output())
		}
		_, err := api.Fetch(sock)
		return err == nil
	})
	return v
}

// state returns the named instance's state on this node.
func (v *vigilNode) state(instance string) string {
	st, err := api.Fetch(v.socket)
	if err != nil {
		return "unreachable"
	}
	for _, in := range st.Instances {
		if in.Name == instance {
			return in.State
		}
	}
	return "absent"
}

func (v *vigilNode) status(t *testing.T, instance string) (out struct {
	State       string
	Transitions int
	Counters    map[string]uint64
}) {
	st, err := api.Fetch(v.socket)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range st.Instances {
		if in.Name == instance {
			out.State, out.Transitions, out.Counters = in.State, in.Transitions, in.Counters
		}
	}
	return out
}

// holders lists the nodes that have addr configured.
func holders(l *lab.Lab, addr netip.Addr) []string {
	var out []string
	for _, n := range l.Nodes {
		if n.HasAddr(addr) {
			out = append(out, n.Name)
		}
	}
	return out
}

// waitOwner waits until exactly node holds addr.
func waitOwner(t *testing.T, l *lab.Lab, addr netip.Addr, node string, timeout time.Duration) {
	t.Helper()
	lab.WaitFor(t, timeout, fmt.Sprintf("%v on %s only (now on %v)", addr, node, holders(l, addr)), func() bool {
		h := holders(l, addr)
		return len(h) == 1 && h[0] == node
	})
}

// watchDoubleOwner samples every 20ms until stop closes and reports every
// time addr was on two nodes in two samples in a row. A single sample is
// not reported: when a higher-priority node preempts, it adds the address as
// the old master hears its advert and removes it, an overlap of well under a
// millisecond that any VRRP implementation has.
func watchDoubleOwner(l *lab.Lab, addr netip.Addr, stop <-chan struct{}) <-chan []string {
	res := make(chan []string, 1)
	go func() {
		var seen []string
		prev := false
		for {
			select {
			case <-stop:
				res <- seen
				return
			case <-time.After(20 * time.Millisecond):
			}
			h := holders(l, addr)
			if len(h) > 1 && prev {
				seen = append(seen, strings.Join(h, "+"))
			}
			prev = len(h) > 1
		}
	}()
	return res
}

// pluginPolicy writes the lab policy for `nodes` nodes and `instances`
// instances with siteBody inside the site block, VI_1 tracking the named
// checks, and extra blocks appended; it returns the file's path.
func (s site) pluginPolicy(t *testing.T, l *lab.Lab, nodes, instances int, siteBody string, track []string, extra string) string {
	t.Helper()
	path := s.policy(t, l, nodes, instances)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pol := strings.Replace(string(src), `site "lab" {}`, "site \"lab\" {\n"+siteBody+"\n}", 1)
	if len(track) > 0 {
		quoted := make([]string, len(track))
		for i, c := range track {
			quoted[i] = fmt.Sprintf("%q", c)
		}
		first := regexp.MustCompile(`(?m)^(  priority        = .*)$`).FindStringIndex(pol)
		pol = pol[:first[1]] + "\n  track           = [" + strings.Join(quoted, ", ") + "]" + pol[first[1]:]
	}
	if err := os.WriteFile(path, []byte(pol+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// inServiceFlag is a file plugins running as nobody can see; file-check
// passes while it exists.
func inServiceFlag(t *testing.T) string {
	flag := filepath.Join(pluginDir(t), "in-service")
	if err := os.WriteFile(flag, []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	return flag
}
