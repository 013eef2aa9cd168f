package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestAcceptMode: a client pings and connects to the VIPs (IPv4 and IPv6)
// of a master that does not own them: with accept mode off it reaches
// neither, with it on both, and the node's own address always. keepalived
// (no_accept / accept, nftables) and Vigil run the same site in turn and
// must agree. Vigil's rules are gone after a stop, and after SIGKILL and
// `vigil cleanup`.
func TestAcceptMode(t *testing.T) {
	lab.Require(t, "keepalived", "nft")
	vip4, vip6 := netip.MustParseAddr("192.0.2.70"), netip.MustParseAddr("2001:db8::70")
	for _, daemon := range []string{"keepalived", "vigil"} {
		for _, accept := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/accept=%v", daemon, accept), func(t *testing.T) {
				l := lab.New(t, 2)
				n1 := l.Nodes[0]
				n1.ServeName(8080)
				procs := make([]*lab.Proc, 2)
				for i, n := range l.Nodes {
					if daemon == "keepalived" {
						procs[i] = n.StartKeepalived(acceptKeepalived(200-100*i, accept))
					} else {
						procs[i] = startVigil(t, l, n, acceptPolicy(t, l, accept)).Proc
					}
				}
				waitOwner(t, l, vip4, "n1", 10*time.Second)
				waitOwner(t, l, vip6, "n1", 10*time.Second)
				for _, a := range []netip.Addr{vip4, vip6} {
					_, tcpErr := l.Client.Probe(a, 8080, 500*time.Millisecond)
					pingErr := l.Client.Ping(a, 500*time.Millisecond)
					if (tcpErr == nil) != accept || (pingErr == nil) != accept {
						t.Errorf("%v with accept %v: connect %v, ping %v", a, accept, tcpErr, pingErr)
					}
				}
				if _, err := l.Client.Probe(n1.Addr4, 8080, time.Second); err != nil {
					t.Errorf("n1's own address: %v", err)
				}
				if daemon == "keepalived" {
					return
				}
				if tables := n1.MustExec("nft", "list", "tables"); strings.Contains(tables, "inet vigil") == accept {
					t.Errorf("accept %v, nft list tables: %q", accept, tables)
				}
				procs[0].Stop(syscall.SIGTERM, 10*time.Second)
				if tables := n1.MustExec("nft", "list", "tables"); strings.Contains(tables, "vigil") {
					t.Errorf("after stop, nft list tables: %q", tables)
				}
				if accept {
					return
				}
				// SIGKILL leaves the table and the VIP; cleanup removes both.
				waitOwner(t, l, vip4, "n2", 10*time.Second)
				procs[1].Stop(syscall.SIGTERM, 10*time.Second)
				pol := acceptPolicy(t, l, false)
				v := startVigil(t, l, n1, pol)
				waitOwner(t, l, vip4, "n1", 10*time.Second)
				v.Proc.Stop(syscall.SIGKILL, 5*time.Second)
				if tables := n1.MustExec("nft", "list", "tables"); !strings.Contains(tables, "inet vigil") || !n1.HasAddr(vip4) {
					t.Fatalf("SIGKILL should leave the rules and the VIP: %q", tables)
				}
				out, err := n1.Exec(vigilBin, "cleanup", "--state-dir", filepath.Join(l.Dir, "n1-state"), "--policy", pol, "--node", "n1")
				if err != nil {
					t.Fatalf("vigil cleanup: %v\n%s", err, out)
				}
				if tables := n1.MustExec("nft", "list", "tables"); strings.Contains(tables, "vigil") || n1.HasAddr(vip4) {
					t.Errorf("after cleanup: VIP held %v, nft list tables %q", n1.HasAddr(vip4), tables)
				}
			})
		}
	}
}

// acceptPolicy is the site for TestAcceptMode: n1 master (200, not the
// owner), one IPv4 and one IPv6 instance.
func acceptPolicy(t *testing.T, l *lab.Lab, accept bool) string {
	p := filepath.Join(l.Dir, fmt.Sprintf("accept-%v.hcl", accept))
	os.WriteFile(p, []byte(fmt.Sprintf(`
node "n1" {
  interface = "eth0"
}
node "n2" {
  interface = "eth0"
}
instance "VI_4" {
  vrid            = 70
  version         = 3
  advert_interval = "100ms"
  vips            = ["192.0.2.70/24"]
  priority        = { n1 = 200, n2 = 100 }
  accept          = %v
}
instance "VI_6" {
  vrid            = 70
  version         = 3
  advert_interval = "100ms"
  vips            = ["2001:db8::70/64"]
  priority        = { n1 = 200, n2 = 100 }
  accept          = %v
}
`, accept, accept)), 0o644)
	return p
}

func acceptKeepalived(prio int, accept bool) string {
	mode := "no_accept"
	if accept {
		mode = "accept"
	}
	var b strings.Builder
	b.WriteString("global_defs {\n  vrrp_version 3\n}\n")
	for _, in := range []struct{ name, vip string }{{"VI_4", "192.0.2.70/24"}, {"VI_6", "2001:db8::70/64"}} {
		fmt.Fprintf(&b, "vrrp_instance %s {\n  state BACKUP\n  interface eth0\n  virtual_router_id 70\n  priority %d\n  advert_int 0.1\n  %s\n  virtual_ipaddress {\n    %s\n  }\n}\n",
			in.name, prio, mode, in.vip)
	}
	return b.String()
}
