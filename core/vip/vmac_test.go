package vip_test

import (
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/core/vip"
	"github.com/vigil-ha/vigil/test/lab"
)

// TestVMACNeverHalfMade: a virtual MAC whose setting up fails after its
// macvlan was made (an IPv6 one on a parent with no link-local address to
// send adverts from) is removed at once, not left behind half set up; and
// DeleteVMAC removes only the macvlan on the parent it names.
func TestVMACNeverHalfMade(t *testing.T) {
	l := lab.New(t, 1)
	n := l.Nodes[0]
	n.MustExec("ip", "link", "add", "bare", "type", "veth", "peer", "name", "bare-peer")
	n.MustExec("ip", "link", "set", "bare", "addrgenmode", "none")
	n.MustExec("ip", "link", "set", "bare", "up")
	n.MustExec("ip", "link", "set", "bare-peer", "up")
	v := vip.VMAC{Name: "vrrp.9", Parent: "bare", VRID: 9, V6: true}
	var err error
	n.Do(func() { err = vip.CreateVMAC(v) })
	if err == nil || !strings.Contains(err.Error(), "link-local") {
		t.Fatalf("CreateVMAC on a parent without a link-local address: %v", err)
	}
	if out := n.MustExec("ip", "-br", "link"); strings.Contains(out, "vrrp.9") {
		t.Errorf("a half-made virtual MAC was left:\n%s", out)
	}

	// A record naming the wrong parent never removes the real one's.
	ok := vip.VMAC{Name: "vrrp.10", Parent: "eth0", VRID: 10}
	n.Do(func() { err = vip.CreateVMAC(ok) })
	if err != nil {
		t.Fatal(err)
	}
	var deleted bool
	n.Do(func() { deleted, err = vip.DeleteVMAC(vip.VMAC{Name: "vrrp.10", Parent: "bare", VRID: 10}) })
	if deleted || err != nil || !strings.Contains(n.MustExec("ip", "-br", "link"), "vrrp.10") {
		t.Errorf("DeleteVMAC with another parent: deleted %v, %v", deleted, err)
	}
	n.Do(func() { deleted, err = vip.DeleteVMAC(ok) })
	if !deleted || err != nil {
		t.Errorf("DeleteVMAC: deleted %v, %v", deleted, err)
	}
}
