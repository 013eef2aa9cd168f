package e2e

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestVirtualMAC: with use_vmac, the VIPs (IPv4 and IPv6) live on a
// macvlan with the RFC's virtual MAC, so a client's neighbour entry for
// each keeps one MAC across failovers: between two Vigil nodes (adverts on
// the virtual MAC, or on the parent with vmac_xmit_base), and between
// Vigil and keepalived with use_vmac on both. Nothing is left
// after a stop (interface, the parent's ARP settings), nor after SIGKILL
// and `vigil cleanup`.
func TestVirtualMAC(t *testing.T) {
	lab.Require(t, "keepalived")
	vip4, vip6 := netip.MustParseAddr("192.0.2.80"), netip.MustParseAddr("2001:db8::80")
	mac4, mac6 := "00:00:5e:00:01:50", "00:00:5e:00:02:51"
	for _, mix := range []string{"vigil", "mixed", "xmit_base"} {
		t.Run(mix, func(t *testing.T) {
			l := lab.New(t, 2)
			n1, n2 := l.Nodes[0], l.Nodes[1]
			pol := filepath.Join(l.Dir, "vmac.hcl")
			policy := vmacPolicy
			if mix == "xmit_base" { // adverts on eth0, the VIPs still on the virtual MAC
				policy = strings.ReplaceAll(policy, "use_vmac        = true", "use_vmac        = true\n  vmac_xmit_base  = true")
			}
			os.WriteFile(pol, []byte(policy), 0o644)
			for _, n := range l.Nodes {
				n.ServeName(8080)
			}
			start := func(n *lab.Node) *lab.Proc {
				if mix == "mixed" && n == n1 {
					return n.StartKeepalived(vmacKeepalived(200))
				}
				return startVigil(t, l, n, pol).Proc
			}
			p1 := start(n1)
			p2 := start(n2)
			if mix != "mixed" {
				lab.WaitFor(t, 5*time.Second, "status names the virtual MAC", func() bool {
					out, _ := n2.Exec(vigilBin, "status", "--socket", filepath.Join(l.Dir, "n2.sock"))
					return strings.Contains(out, "vrrp.80@eth0")
				})
			}
			// The client's neighbour entries, and who answers, checked
			// every 20 ms through each failover: one MAC, always.
			seen := map[string]map[string]bool{vip4.String(): {}, vip6.String(): {}}
			watch := func(owner string, d time.Duration) {
				t.Helper()
				deadline := time.Now().Add(d)
				answered := false
				for time.Now().Before(deadline) {
					for _, a := range []netip.Addr{vip4, vip6} {
						if name, err := l.Client.Probe(a, 8080, 200*time.Millisecond); err == nil && name == owner {
							answered = true
						}
						out, _ := l.Client.Exec("ip", "neigh", "show", a.String())
						if f := strings.Fields(out); len(f) > 0 {
							for i := range f {
								if f[i] == "lladdr" && i+1 < len(f) {
									seen[a.String()][f[i+1]] = true
								}
							}
						}
					}
					time.Sleep(20 * time.Millisecond)
				}
				if !answered {
					t.Errorf("%s never answered on the VIPs", owner)
				}
			}
			waitOwner(t, l, vip4, "n1", 10*time.Second)
			waitOwner(t, l, vip6, "n1", 10*time.Second)
			watch("n1", time.Second)
			p1.Stop(syscall.SIGTERM, 10*time.Second)
			waitOwner(t, l, vip4, "n2", 10*time.Second)
			watch("n2", time.Second)
			p1 = start(n1)
			waitOwner(t, l, vip4, "n1", 10*time.Second)
			waitOwner(t, l, vip6, "n1", 10*time.Second)
			watch("n1", time.Second)
			// keepalived's node lets its own MAC out (ARP requests from
			// eth0 with the VIP as sender); Vigil's never may.
			n2mac := strings.Fields(n2.MustExec("cat", "/sys/class/net/eth0/address"))[0]
			for a, want := range map[string]string{vip4.String(): mac4, vip6.String(): mac6} {
				if !seen[a][want] || seen[a][n2mac] || mix != "mixed" && len(seen[a]) != 1 {
					t.Errorf("client's neighbour entry for %s held %v, want %s (n2's own MAC is %s)", a, slices.Sorted(maps.Keys(seen[a])), want, n2mac)
				} else if len(seen[a]) > 1 {
					t.Logf("with keepalived on n1, the client's entry for %s also held %v", a, slices.Sorted(maps.Keys(seen[a])))
				}
			}
			p1.Stop(syscall.SIGTERM, 10*time.Second)
			p2.Stop(syscall.SIGTERM, 10*time.Second)
			for _, n := range l.Nodes {
				if mix == "mixed" && n == n1 {
					continue
				}
				vmacLeftovers(t, n, "after stop")
			}
			if mix != "vigil" {
				return
			}
			// SIGKILL leaves the interfaces; cleanup removes them.
			v := startVigil(t, l, n1, pol)
			waitOwner(t, l, vip4, "n1", 10*time.Second)
			v.Proc.Stop(syscall.SIGKILL, 5*time.Second)
			if out := n1.MustExec("ip", "-br", "link"); !strings.Contains(out, "vrrp.80") {
				t.Fatalf("SIGKILL should leave vrrp.80:\n%s", out)
			}
			if out, err := n1.Exec(vigilBin, "cleanup", "--state-dir", filepath.Join(l.Dir, "n1-state"), "--policy", pol, "--node", "n1"); err != nil {
				t.Fatalf("vigil cleanup: %v\n%s", err, out)
			}
			vmacLeftovers(t, n1, "after SIGKILL and cleanup")
		})
	}
}

// vmacLeftovers fails if n still has a virtual MAC interface or the
// parent's ARP settings Vigil changed.
func vmacLeftovers(t *testing.T, n *lab.Node, when string) {
	t.Helper()
	if out := n.MustExec("ip", "-br", "link"); strings.Contains(out, "vrrp") {
		t.Errorf("%s, %s still has:\n%s", when, n.Name, out)
	}
	for _, k := range []string{"arp_ignore", "arp_filter", "arp_announce"} {
		if v := strings.TrimSpace(n.MustExec("cat", "/proc/sys/net/ipv4/conf/eth0/"+k)); v != "0" {
			t.Errorf("%s, %s's eth0 %s = %s, want 0 as before", when, n.Name, k, v)
		}
	}
}

const vmacPolicy = `
node "n1" {
  interface = "eth0"
}
node "n2" {
  interface = "eth0"
}
instance "VI_4" {
  vrid            = 80
  version         = 3
  advert_interval = "100ms"
  vips            = ["192.0.2.80/24"]
  priority        = { n1 = 200, n2 = 100 }
  use_vmac        = true
}
instance "VI_6" {
  vrid            = 81
  version         = 3
  advert_interval = "100ms"
  vips            = ["2001:db8::80/64"]
  priority        = { n1 = 200, n2 = 100 }
  use_vmac        = true
}
`

func vmacKeepalived(prio int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n  vrrp_version 3\n}\n")
	for _, in := range []struct {
		name string
		vrid int
		vip  string
	}{{"VI_4", 80, "192.0.2.80/24"}, {"VI_6", 81, "2001:db8::80/64"}} {
		fmt.Fprintf(&b, "vrrp_instance %s {\n  state BACKUP\n  interface eth0\n  virtual_router_id %d\n  priority %d\n  advert_int 0.1\n  use_vmac\n  virtual_ipaddress {\n    %s\n  }\n}\n",
			in.name, in.vrid, prio, in.vip)
	}
	return b.String()
}
