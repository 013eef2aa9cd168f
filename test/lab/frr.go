package lab

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// frrDaemons is where Debian's frr package puts its daemons.
const frrDaemons = "/usr/lib/frr"

// Router is FRRouting (zebra, bgpd, bfdd) in a node of the lab's segment,
// with a segment of its own behind it (198.51.100.0/24, 2001:db8:1::/64)
// where Far, a client, sits: what reaches Far's replies from the segment
// goes through the router's routes.
type Router struct {
	*Node
	Far *Node
	dir string
}

// AddRouter adds a router at 192.0.2.HOST on the segment (forwarding on)
// with its far segment and client.
func (l *Lab) AddRouter(name string, host int) *Router {
	l.t.Helper()
	Require(l.t, "vtysh")
	r := &Router{Node: l.AddNode(name, host)}
	far := &Node{lab: l, Name: name + "-far", NS: l.prefix + "-" + name + "f",
		Addr4: netip.MustParseAddr("198.51.100.99"), Addr6: netip.MustParseAddr("2001:db8:1::99")}
	l.extra = append(l.extra, far)
	l.must("ip", "netns", "add", far.NS)
	l.must("ip", "link", "add", "eth1", "netns", r.NS, "type", "veth", "peer", "name", "eth0", "netns", far.NS)
	for _, c := range [][]string{
		{r.NS, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{r.NS, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
		{r.NS, "sysctl", "-qw", "net.ipv6.conf.eth1.accept_dad=0"},
		{r.NS, "ip", "addr", "add", "198.51.100.1/24", "dev", "eth1"},
		{r.NS, "ip", "addr", "add", "2001:db8:1::1/64", "dev", "eth1", "nodad"},
		{r.NS, "ip", "link", "set", "eth1", "up"},
		{far.NS, "ip", "link", "set", "lo", "up"},
		{far.NS, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"},
		{far.NS, "ip", "addr", "add", "198.51.100.99/24", "dev", "eth0"},
		{far.NS, "ip", "addr", "add", "2001:db8:1::99/64", "dev", "eth0", "nodad"},
		{far.NS, "ip", "link", "set", "eth0", "up"},
		{far.NS, "ip", "route", "add", "default", "via", "198.51.100.1"},
		{far.NS, "ip", "-6", "route", "add", "default", "via", "2001:db8:1::1"},
	} {
		l.mustNS(c[0], c[1:]...)
	}
	r.Far = far
	return r
}

// RouteVia sends the node's traffic for the far segment through the
// router (the replies to Far).
func (n *Node) RouteVia(r *Router) {
	n.MustExec("ip", "route", "replace", "198.51.100.0/24", "via", r.Addr4.String())
	n.MustExec("ip", "-6", "route", "replace", "2001:db8:1::/64", "via", r.Addr6.String())
}

// Start runs zebra, bfdd and bgpd with their configurations (bfdd's
// sessions come from bgpd's neighbor ... bfd lines, its profiles from its
// own) and waits until vtysh answers.
func (r *Router) Start(conf FRRConf) {
	t := r.lab.t
	t.Helper()
	// The daemons run as frr, which must reach their directory: not
	// under the test's private temporary directory.
	dir, err := os.MkdirTemp("", "vigil-frr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r.dir = dir
	u, err := user.Lookup("frr")
	if err != nil {
		t.Fatalf("frr user: %v (apt-get install frr)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	confs := map[string]string{"zebra": "hostname " + r.Name + "\n", "bgpd": conf.BGPD, "bfdd": conf.BFDD}
	for name, conf := range confs {
		p := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(dir, 0o755)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, uid, gid) })
	common := func(d string) []string {
		return []string{filepath.Join(frrDaemons, d), "-f", filepath.Join(dir, d+".conf"), "-i", filepath.Join(dir, d+".pid"),
			"-z", filepath.Join(dir, "zserv.api"), "--vty_socket", dir, "-u", "frr", "-g", "frr", "-P", "0"}
	}
	r.Node.Start("zebra", common("zebra")...)
	WaitFor(t, 5*time.Second, "zebra's socket", func() bool { _, err := os.Stat(filepath.Join(dir, "zserv.api")); return err == nil })
	r.Node.Start("bfdd", append(common("bfdd"), "--bfdctl", filepath.Join(dir, "bfdd.sock"))...)
	r.Node.Start("bgpd", common("bgpd")...)
	WaitFor(t, 10*time.Second, "FRR to answer vtysh", func() bool {
		out, err := r.vtysh("show bgp summary")
		return err == nil && !strings.Contains(out, "failed to connect")
	})
}

func (r *Router) vtysh(cmds ...string) (string, error) {
	args := []string{"netns", "exec", r.NS, "vtysh", "--vty_socket", r.dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("ip", args...).CombinedOutput()
	return string(out), err
}

// Vtysh runs show commands on the router and returns what they print.
func (r *Router) Vtysh(cmds ...string) string {
	r.lab.t.Helper()
	out, err := r.vtysh(cmds...)
	if err != nil {
		r.lab.t.Fatalf("vtysh %v on %s: %v\n%s", cmds, r.Name, err, out)
	}
	return out
}

// NextHops returns the next hops of the router's installed route to
// prefix, as the kernel has them (ip route): ECMP gives several; none
// when there is no such route.
func (r *Router) NextHops(prefix string) []string {
	r.lab.t.Helper()
	family := "-4"
	if strings.Contains(prefix, ":") {
		family = "-6"
	}
	out, err := r.Exec("ip", family, "route", "show", "exact", prefix)
	if err != nil {
		return nil
	}
	var hops []string
	for _, f := range strings.Split(out, "\n") {
		w := strings.Fields(f)
		for i := 0; i+1 < len(w); i++ {
			if w[i] == "via" {
				hops = append(hops, w[i+1])
			}
		}
	}
	return hops
}

// BGPConf is a bgpd configuration for AS asn at router id id, with a
// neighbor per node address (remote AS nodeASN, timers 1/3 s; IPv6 ones
// carry IPv6 unicast), BFD on the sessions at bfd intervals (x3) when bfd
// is not 0; ECMP over up to 8 paths.
func BGPConf(asn uint32, id netip.Addr, nodeASN uint32, nodes []netip.Addr, bfd time.Duration) FRRConf {
	var nodes6 []netip.Addr
	for _, a := range nodes {
		if a.Is6() {
			nodes6 = append(nodes6, a)
		}
	}
	var b strings.Builder
	var c FRRConf
	if bfd > 0 {
		c.BFDD = fmt.Sprintf("bfd\n profile lab\n  receive-interval %d\n  transmit-interval %d\n  detect-multiplier 3\n exit\nexit\n", bfd.Milliseconds(), bfd.Milliseconds())
	}
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %v\n no bgp ebgp-requires-policy\n bgp bestpath as-path multipath-relax\n", asn, id)
	for _, a := range nodes {
		fmt.Fprintf(&b, " neighbor %v remote-as %d\n neighbor %v timers 1 3\n neighbor %v timers connect 1\n", a, nodeASN, a, a)
		if bfd > 0 {
			fmt.Fprintf(&b, " neighbor %v bfd profile lab\n", a)
		}
	}
	b.WriteString(" address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family\n")
	if len(nodes6) > 0 {
		b.WriteString(" address-family ipv6 unicast\n  maximum-paths 8\n")
		for _, a := range nodes6 {
			fmt.Fprintf(&b, "  neighbor %v activate\n", a)
		}
		b.WriteString(" exit-address-family\n")
	}
	c.BGPD = b.String()
	return c
}

// FRRConf is the configuration of bgpd and of bfdd.
type FRRConf struct{ BGPD, BFDD string }

// RouteChanges records when the router's kernel routing table changed for
// prefix (FRR installing or removing a path); last returns the latest
// change at or before t, for timing a convergence that NextHops confirms
// at t, or t itself if no change was seen (an upper bound).
func (r *Router) RouteChanges(prefix netip.Prefix) (last func(t time.Time) time.Time) {
	t := r.lab.t
	t.Helper()
	ns, err := netns.GetFromName(r.NS)
	if err != nil {
		t.Fatalf("netns %s: %v", r.NS, err)
	}
	ch := make(chan netlink.RouteUpdate, 256)
	done := make(chan struct{})
	if err := netlink.RouteSubscribeWithOptions(ch, done, netlink.RouteSubscribeOptions{Namespace: &ns}); err != nil {
		ns.Close()
		t.Fatalf("watch routes on %s: %v", r.Name, err)
	}
	t.Cleanup(func() { close(done); ns.Close() })
	var mu sync.Mutex
	var times []time.Time
	go func() {
		for u := range ch {
			if u.Dst != nil {
				if p, ok := netip.AddrFromSlice(u.Dst.IP); ok {
					ones, _ := u.Dst.Mask.Size()
					if netip.PrefixFrom(p.Unmap(), ones) == prefix {
						mu.Lock()
						times = append(times, time.Now())
						mu.Unlock()
					}
				}
			}
		}
	}()
	return func(at time.Time) time.Time {
		mu.Lock()
		defer mu.Unlock()
		best := at
		for _, x := range times {
			if !x.After(at) {
				best = x
			}
		}
		return best
	}
}

// WaitBFD waits (at most 15 s) until the router has peers BFD sessions up
// at interval both ways for 2 s: a new session runs at 1 s until its Poll
// sequence has moved both ends to the configured rate (RFC 5880 6.8.3),
// and in the lab a link cut in a session's first second took FRR 2 s to
// see, whatever the timers it showed.
func (r *Router) WaitBFD(peers int, interval time.Duration) {
	r.lab.t.Helper()
	want := fmt.Sprintf("Receive interval: %dms", interval.Milliseconds())
	WaitFor(r.lab.t, 15*time.Second, fmt.Sprintf("%d BFD sessions up at %v for 2 s", peers, interval), func() bool {
		out, err := r.vtysh("show bfd peers")
		// Each session lists the router's own timers and the peer's.
		return err == nil && strings.Count(out, "Status: up") >= peers && strings.Count(out, want) >= 2*peers &&
			!strings.Contains(out, "Uptime: 0 second(s)") && !strings.Contains(out, "Uptime: 1 second(s)")
	})
}

// BGPFrom captures, on the router's segment, the BGP UPDATEs src sends
// (frames longer than a keepalive's 85 bytes) until the test ends; first
// returns when the first of them after t arrived, or zero.
func (r *Router) BGPFrom(src netip.Addr) (first func(t time.Time) time.Time) {
	t := r.lab.t
	t.Helper()
	Require(t, "tcpdump")
	cmd := exec.Command("ip", "netns", "exec", r.NS, "tcpdump", "--immediate-mode", "-l", "-n", "-tt", "-i", "eth0",
		fmt.Sprintf("tcp port 179 and src %v and greater 90", src))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("tcpdump on %s: %v", r.Name, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var mu sync.Mutex
	var times []time.Time
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var sec float64
			if _, err := fmt.Sscan(strings.Fields(sc.Text() + " 0")[0], &sec); err == nil && sec > 0 {
				mu.Lock()
				times = append(times, time.Unix(0, int64(sec*1e9)))
				mu.Unlock()
			}
		}
	}()
	time.Sleep(300 * time.Millisecond) // tcpdump listening
	return func(after time.Time) time.Time {
		// The line may still be on its way from tcpdump: up to a second.
		for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			for _, x := range times {
				if x.After(after) {
					mu.Unlock()
					return x
				}
			}
			mu.Unlock()
			if time.Now().After(deadline) {
				return time.Time{}
			}
		}
	}
}
