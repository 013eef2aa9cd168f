package vip

import (
	"errors"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestAnnouncerSocketsReceiveNothing: the announcement sockets, opened by
// Prepare before any takeover, never queue the LAN's ARP and ICMPv6 traffic
// (nothing reads them).
func TestAnnouncerSocketsReceiveNothing(t *testing.T) {
	l := lab.New(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	an := NewAnnouncer()
	defer an.Close()
	n1.Do(func() {
		for _, v6 := range []bool{false, true} {
			if err := an.Prepare("eth0", v6); err != nil {
				t.Fatalf("Prepare(eth0, v6=%v): %v", v6, err)
			}
		}
	})
	if s := an.links["eth0"]; s == nil || s.arp == nil || s.ndp == nil {
		t.Fatal("Prepare did not open the sockets")
	}
	// n2 resolves n1 (ARP request, neighbour solicitation) and is refused
	// by it: traffic reached n1 and came back.
	for _, dst := range []netip.Addr{n1.Addr4, n1.Addr6} {
		lab.WaitFor(t, 5*time.Second, "n1 refuses a connection to "+dst.String(), func() bool {
			_, err := n2.Dial(dst, 9, 500*time.Millisecond)
			return errors.Is(err, syscall.ECONNREFUSED)
		})
	}
	buf := make([]byte, 1600)
	an.links["eth0"].arp.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := an.links["eth0"].arp.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the ARP socket received a frame (%d bytes, %v)", n, err)
	}
	an.links["eth0"].ndp.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if m, _, from, err := an.links["eth0"].ndp.ReadFrom(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the ICMPv6 socket received %v from %v (%v)", m, from, err)
	}
}
