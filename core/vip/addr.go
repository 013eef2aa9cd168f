// Package vip configures virtual addresses on interfaces through netlink and
// announces them with gratuitous ARP (IPv4) and unsolicited neighbour
// advertisements (IPv6), shaped like keepalived's.
package vip

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Addr is one virtual address and how it is configured.
type Addr struct {
	Prefix    netip.Prefix
	Label     string // interface label, e.g. "eth0:vip"
	Scope     string // global (default), site, link, host
	Interface string
}

func (a Addr) String() string { return a.Prefix.String() + " on " + a.Interface }

var scopes = map[string]netlink.Scope{"": netlink.SCOPE_UNIVERSE, "global": netlink.SCOPE_UNIVERSE,
	"site": netlink.SCOPE_SITE, "link": netlink.SCOPE_LINK, "host": netlink.SCOPE_HOST}

// netlink is a as netlink configures it; an unknown scope is an error, not
// a global address.
func (a Addr) netlink() (*netlink.Addr, error) {
	scope, ok := scopes[a.Scope]
	if !ok {
		return nil, fmt.Errorf("%s: unknown scope %q (global, site, link or host)", a, a.Scope)
	}
	ip := a.Prefix.Addr()
	n := &netlink.Addr{
		IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(a.Prefix.Bits(), ip.BitLen())},
		Label: a.Label,
		Scope: int(scope),
	}
	if ip.Is6() {
		// A VIP must answer at once after failover, not after duplicate
		// address detection; keepalived sets the same flag.
		n.Flags = unix.IFA_F_NODAD
	}
	return n, nil
}
