package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestMulticastGroupWithKeepalived: a site on its own multicast group
// (keepalived's vrrp_mcast_group4 224.0.0.19): a Vigil master and a
// keepalived backup hear each other there, and a third node on the RFC's
// group (a keepalived of another site with the same VRID) moves nothing.
func TestMulticastGroupWithKeepalived(t *testing.T) {
	lab.Require(t, "keepalived")
	l := lab.New(t, 3)
	s := site{version: 3, interval: "100ms"}
	pol := s.policy(t, l, 2, 1)
	b, _ := os.ReadFile(pol)
	os.WriteFile(pol, []byte(strings.Replace(string(b), `site "lab" {}`, "site \"lab\" {\n  multicast_group4 = \"224.0.0.19\"\n}", 1)), 0o644)
	withGroup := func(conf string) string {
		return strings.Replace(conf, "global_defs {\n", "global_defs {\n  vrrp_mcast_group4 224.0.0.19\n", 1)
	}
	v1 := startVigil(t, l, l.Nodes[0], pol)
	l.Nodes[1].StartKeepalived(withGroup(s.keepalivedConf(l, 1, 1, "")))
	// n3: keepalived on the RFC's group, VRID 21 at priority 200 with
	// another address; were it heard, n1 and n2 would both step back.
	other := strings.Replace(strings.Replace(s.keepalivedConf(l, 2, 1, ""), "priority 60", "priority 200", 1), s.vipOf(0).String(), "192.0.2.199", 1)
	l.Nodes[2].StartKeepalived(other)
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	time.Sleep(time.Second) // n1 stays master beside n3's adverts
	waitOwner(t, l, s.vipOf(0), "n1", time.Second)
	if err := v1.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitOwner(t, l, s.vipOf(0), "n2", 3*time.Second) // keepalived heard the priority 0 advert on 224.0.0.19
	v1 = startVigil(t, l, l.Nodes[0], pol)
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second) // and n1 preempts it there
	if v1.Count("dropped advert sent to another multicast group") < 1 {
		t.Errorf("n1 did not report n3's adverts to the RFC's group:\n%s", v1.Output())
	}
}
