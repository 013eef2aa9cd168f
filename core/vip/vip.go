// Package vip configures virtual addresses on interfaces through netlink and
// announces them with gratuitous ARP (IPv4) and unsolicited neighbour
// advertisements (IPv6), shaped like keepalived's.
package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
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

func (a Addr) netlink() *netlink.Addr {
	ip := a.Prefix.Addr()
	n := &netlink.Addr{
		IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(a.Prefix.Bits(), ip.BitLen())},
		Label: a.Label,
		Scope: int(scopes[a.Scope]),
	}
	if ip.Is6() {
		// A VIP must answer at once after failover, not after duplicate
		// address detection; keepalived sets the same flag.
		n.Flags = unix.IFA_F_NODAD
	}
	return n
}

// Add configures a. added is false when the address was already there.
func Add(a Addr) (added bool, err error) {
	link, err := netlink.LinkByName(a.Interface)
	if err != nil {
		return false, fmt.Errorf("add %s: %w", a, err)
	}
	if err := netlink.AddrAdd(link, a.netlink()); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return false, nil
		}
		return false, fmt.Errorf("add %s: %w", a, err)
	}
	return true, nil
}

// Remove deletes a. removed is false when it was not there.
func Remove(a Addr) (removed bool, err error) {
	link, err := netlink.LinkByName(a.Interface)
	if err != nil {
		return false, fmt.Errorf("remove %s: %w", a, err)
	}
	if err := netlink.AddrDel(link, a.netlink()); err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return false, nil
		}
		return false, fmt.Errorf("remove %s: %w", a, err)
	}
	return true, nil
}

// Present reports whether a's address is configured on its interface.
func Present(a Addr) (bool, error) {
	link, err := netlink.LinkByName(a.Interface)
	if err != nil {
		return false, err
	}
	fam := netlink.FAMILY_V4
	if a.Prefix.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	list, err := netlink.AddrList(link, fam)
	if err != nil {
		return false, err
	}
	for _, x := range list {
		if ip, ok := netip.AddrFromSlice(x.IP); ok && ip.Unmap() == a.Prefix.Addr() {
			return true, nil
		}
	}
	return false, nil
}

// Announcer sends gratuitous ARP and unsolicited NA; it keeps one socket
// per interface and family open between bursts.
type Announcer struct {
	mu  sync.Mutex
	arp map[string]*arp.Client
	ndp map[string]*ndp.Conn
}

// NewAnnouncer returns an Announcer with no socket open yet.
func NewAnnouncer() *Announcer {
	return &Announcer{arp: map[string]*arp.Client{}, ndp: map[string]*ndp.Conn{}}
}

// Burst announces every address repeat times, round-robin as keepalived
// does (a, b, a, b, ...), pausing gap4 between ARP and gap6 between NA
// packets. It returns the first error after trying every packet.
func (an *Announcer) Burst(addrs []Addr, repeat int, gap4, gap6 time.Duration) error {
	an.mu.Lock()
	defer an.mu.Unlock()
	var errs []error
	for r := 0; r < repeat; r++ {
		for _, a := range addrs {
			var err error
			gap := gap4
			if a.Prefix.Addr().Is6() {
				err, gap = an.na(a), gap6
			} else {
				err = an.garp(a)
			}
			if err != nil {
				errs = append(errs, err)
			}
			if gap > 0 {
				time.Sleep(gap)
			}
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// garp sends "who-has VIP tell VIP" from the interface's MAC to broadcast,
// with the broadcast target hardware address keepalived uses.
func (an *Announcer) garp(a Addr) error {
	c, ok := an.arp[a.Interface]
	if !ok {
		ifi, err := net.InterfaceByName(a.Interface)
		if err != nil {
			return err
		}
		if c, err = arp.Dial(ifi); err != nil {
			return fmt.Errorf("gratuitous ARP on %s: %w", a.Interface, err)
		}
		an.arp[a.Interface] = c
	}
	ip := a.Prefix.Addr()
	p, err := arp.NewPacket(arp.OperationRequest, c.HardwareAddr(), ip, ethernet.Broadcast, ip)
	if err != nil {
		return err
	}
	if err := c.WriteTo(p, ethernet.Broadcast); err != nil {
		return fmt.Errorf("gratuitous ARP for %s: %w", a, err)
	}
	return nil
}

// na sends an unsolicited neighbour advertisement for the VIP, from the VIP,
// to all nodes, with the override flag and the target link-layer address.
func (an *Announcer) na(a Addr) error {
	c, ok := an.ndp[a.Interface]
	ifi, err := net.InterfaceByName(a.Interface)
	if err != nil {
		return err
	}
	if !ok {
		if c, _, err = ndp.Listen(ifi, ndp.Unspecified); err != nil {
			return fmt.Errorf("neighbour advertisement on %s: %w", a.Interface, err)
		}
		an.ndp[a.Interface] = c
	}
	ip := a.Prefix.Addr()
	m := &ndp.NeighborAdvertisement{Override: true, TargetAddress: ip,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifi.HardwareAddr}}}
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: ip.AsSlice(), IfIndex: ifi.Index}
	if err := c.WriteTo(m, cm, netip.IPv6LinkLocalAllNodes()); err != nil {
		return fmt.Errorf("neighbour advertisement for %s: %w", a, err)
	}
	return nil
}

// Close closes every socket.
func (an *Announcer) Close() {
	an.mu.Lock()
	defer an.mu.Unlock()
	for k, c := range an.arp {
		c.Close()
		delete(an.arp, k)
	}
	for k, c := range an.ndp {
		c.Close()
		delete(an.ndp, k)
	}
}
