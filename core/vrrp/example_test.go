package vrrp_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-ha/vigil/core/vrrp"
)

// A VRRPv3 advert for VRID 51 at priority 100, written and read back as a
// backup on the segment would.
func Example() {
	src := netip.MustParseAddr("192.0.2.1")
	out := vrrp.Advert{Version: vrrp.V3, VRID: 51, Priority: 100, Interval: time.Second,
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}
	b, err := out.Marshal(src, vrrp.GroupV4)
	if err != nil {
		panic(err)
	}
	var in vrrp.Advert
	if err := in.Unmarshal(b, src, vrrp.GroupV4); err != nil {
		panic(err)
	}
	fmt.Println(len(b), "bytes:", in.VRID, in.Priority, in.Interval, in.Addrs)

	// A flipped bit is caught by the checksum, and named for the counters.
	b[6] ^= 1
	err = in.Unmarshal(b, src, vrrp.GroupV4)
	fmt.Println(vrrp.Reason(err))
	// Output:
	// 12 bytes: 51 100 1s [192.0.2.10]
	// checksum
}
