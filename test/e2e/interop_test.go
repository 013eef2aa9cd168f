package e2e

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// keepalivedConf is the keepalived.conf of lab node i (0-based) for the
// first `instances` instances of s, with the same priorities as s.policy.
func (s site) keepalivedConf(l *lab.Lab, i, instances int, password string) string {
	prios := [][]int{{100, 60, 80}, {80, 100, 60}, {60, 80, 100}}
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id %s\n  vrrp_version %d\n}\n", l.Nodes[i].Name, s.version)
	interval := strings.TrimSuffix(s.interval, "s")
	if strings.HasSuffix(s.interval, "ms") {
		var ms int
		fmt.Sscanf(s.interval, "%dms", &ms)
		interval = fmt.Sprintf("%g", float64(ms)/1000)
	}
	for k := 0; k < instances; k++ {
		bits := 24
		if s.v6 {
			bits = 64
		}
		fmt.Fprintf(&b, "vrrp_instance VI_%d {\n  state BACKUP\n  interface eth0\n  virtual_router_id %d\n  priority %d\n  advert_int %s\n",
			k+1, 21+k, prios[k][i%3], interval)
		if password != "" {
			fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", password)
		}
		if s.unicast {
			addr := func(n *lab.Node) netip.Addr {
				if s.v6 {
					return n.Addr6
				}
				return n.Addr4
			}
			fmt.Fprintf(&b, "  unicast_src_ip %s\n  unicast_peer {\n", addr(l.Nodes[i]))
			for j, n := range l.Nodes {
				if j != i {
					fmt.Fprintf(&b, "    %s\n", addr(n))
				}
			}
			b.WriteString("  }\n")
		}
		fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s/%d\n  }\n}\n", s.vipOf(k), bits)
	}
	return b.String()
}

// node is either implementation on a lab node, started and stopped alike.
type node struct {
	proc  *lab.Proc
	start func() *lab.Proc
}

func (n *node) restart() { n.proc = n.start() }

var interopSites = []struct {
	name string
	site site
}{
	{"v2-pass-ipv4", site{version: 2, interval: "1s", auth: "1322"}},
	{"v3-ipv4", site{version: 3, interval: "100ms"}},
	{"v3-ipv6", site{version: 3, interval: "100ms", v6: true}},
	{"v2-pass-unicast", site{version: 2, interval: "1s", auth: "1322", unicast: true}},
	{"v3-ipv6-unicast", site{version: 3, interval: "100ms", v6: true, unicast: true}},
}

// TestInteropKeepalived runs one Vigil and one keepalived node on VI_1 (n1
// at 100, n2 at 60), both ways round: one master, graceful failover and
// return, crash failover and return.
func TestInteropKeepalived(t *testing.T) {
	for _, c := range interopSites {
		for _, vigilMaster := range []bool{true, false} {
			name := c.name + "/keepalived-master"
			if vigilMaster {
				name = c.name + "/vigil-master"
			}
			t.Run(name, func(t *testing.T) {
				lab.Require(t, "keepalived")
				l := lab.New(t, 2)
				pol := c.site.policy(t, l, 2, 1)
				mk := func(i int, vigil bool) *node {
					n := l.Nodes[i]
					nd := &node{}
					if vigil {
						nd.start = func() *lab.Proc { return startVigil(t, l, n, pol).Proc }
					} else {
						conf := c.site.keepalivedConf(l, i, 1, c.site.auth)
						nd.start = func() *lab.Proc { return n.StartKeepalived(conf) }
					}
					nd.restart()
					return nd
				}
				master, backup := mk(0, vigilMaster), mk(1, !vigilMaster)
				vip := c.site.vipOf(0)
				down := 10 * time.Second
				waitOwner(t, l, vip, "n1", down)

				// Graceful: the master resigns with priority 0.
				if err := master.proc.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
					t.Fatalf("stop n1: %v", err)
				}
				waitOwner(t, l, vip, "n2", 5*time.Second)
				master.restart()
				waitOwner(t, l, vip, "n1", down)

				// Crash: n1's link is cut; n2 takes over; the link returns
				// and n1 preempts, leaving one owner.
				l.Nodes[0].CutLink()
				lab.WaitFor(t, 6*time.Second, "n2 to take over from a cut-off n1", func() bool { return l.Nodes[1].HasAddr(vip) })
				l.Nodes[0].RestoreLink()
				waitOwner(t, l, vip, "n1", 5*time.Second)
				if !backup.proc.Running() || !master.proc.Running() {
					t.Fatalf("a daemon died:\n%s\n%s", master.proc.Output(), backup.proc.Output())
				}
			})
		}
	}
}

// TestAuthMismatch: a keepalived with the wrong password and a higher
// priority next to a Vigil master. Vigil drops its adverts, counts them,
// logs at most once per interval, and stays MASTER.
func TestAuthMismatch(t *testing.T) {
	lab.Require(t, "keepalived")
	l := lab.New(t, 2)
	// keepalived 2.2.7 as master restarts its advert timer on every packet
	// it receives, even one it drops: at Vigil's own interval it would send
	// only when timer jitter lets it, so it advertises twice as often.
	s := site{version: 2, interval: "2s", auth: "1322"}
	v := startVigil(t, l, l.Nodes[0], s.policy(t, l, 1, 1))
	waitOwner(t, l, s.vipOf(0), "n1", 10*time.Second)
	conf := strings.Replace(s.keepalivedConf(l, 1, 1, "wrong"), "priority 60", "priority 150", 1)
	conf = strings.Replace(conf, "advert_int 2\n", "advert_int 1\n", 1)
	k := l.Nodes[1].StartKeepalived(conf)
	started := time.Now()
	lab.WaitFor(t, 30*time.Second, "Vigil to drop 6 adverts with the wrong password", func() bool {
		return v.status(t, "VI_1").Counters["dropped_auth"] >= 6
	})
	elapsed := time.Since(started)
	st := v.status(t, "VI_1")
	if st.State != "MASTER" || st.Transitions != 2 {
		t.Errorf("Vigil went %s after %d transitions; adverts it cannot authenticate must not move it", st.State, st.Transitions)
	}
	// At most one line per reason per advert interval (2 s here).
	drops, n := st.Counters["dropped_auth"], v.Count("VI_1 dropped advert")
	if n < 2 || uint64(n) >= drops || n > int(elapsed/(2*time.Second))+1 {
		t.Errorf("%d log lines for %d bad adverts in %v; want one per 2 s interval at most:\n%s", n, drops, elapsed.Round(time.Second), v.Output())
	}
	if !strings.Contains(v.Output(), "authentication mismatch: wrong password") {
		t.Errorf("log does not say why:\n%s", v.Output())
	}
	_ = k
}
