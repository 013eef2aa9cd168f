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
	"github.com/mdlayher/packet"
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

// Configurer adds and removes addresses through one netlink socket, opened
// in the network namespace of the caller of NewConfigurer, with interface
// indexes cached: a takeover costs one netlink round trip per VIP.
type Configurer struct {
	mu    sync.Mutex
	h     *netlink.Handle
	links map[string]netlink.Link
}

// NewConfigurer opens the netlink socket in the current namespace.
func NewConfigurer() (*Configurer, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return &Configurer{h: h, links: map[string]netlink.Link{}}, nil
}

// Close closes the netlink socket.
func (c *Configurer) Close() { c.h.Close() }

// link returns the interface, cached; fresh is true if it was looked up now.
func (c *Configurer) link(name string) (l netlink.Link, fresh bool, err error) {
	if l, ok := c.links[name]; ok {
		return l, false, nil
	}
	l, err = c.h.LinkByName(name)
	if err != nil {
		return nil, true, err
	}
	c.links[name] = l
	return l, true, nil
}

// Prepare looks ifname up now and caches it, so that the first Add on it,
// a takeover's, is one netlink round trip and not two.
func (c *Configurer) Prepare(ifname string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _, err := c.link(ifname)
	return err
}

// do runs f on a's interface; if the cached interface is gone (deleted and
// recreated under the same name), it looks it up again and retries once.
func (c *Configurer) do(a Addr, f func(netlink.Link) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, fresh, err := c.link(a.Interface)
	if err != nil {
		return err
	}
	err = f(l)
	if err != nil && !fresh && (errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL)) {
		delete(c.links, a.Interface)
		if l, _, err = c.link(a.Interface); err == nil {
			err = f(l)
		}
	}
	return err
}

// Add configures a. added is false when the address was already there.
func (c *Configurer) Add(a Addr) (added bool, err error) {
	err = c.do(a, func(l netlink.Link) error { return c.h.AddrAdd(l, a.netlink()) })
	if errors.Is(err, unix.EEXIST) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("add %s: %w", a, err)
	}
	return true, nil
}

// Remove deletes a. removed is false when it was not there.
func (c *Configurer) Remove(a Addr) (removed bool, err error) {
	err = c.do(a, func(l netlink.Link) error { return c.h.AddrDel(l, a.netlink()) })
	if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove %s: %w", a, err)
	}
	return true, nil
}

// Present reports whether a's address is configured on its interface.
func (c *Configurer) Present(a Addr) (bool, error) {
	fam := netlink.FAMILY_V4
	if a.Prefix.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	found := false
	err := c.do(a, func(l netlink.Link) error {
		list, err := c.h.AddrList(l, fam)
		for _, x := range list {
			if ip, ok := netip.AddrFromSlice(x.IP); ok && ip.Unmap() == a.Prefix.Addr() {
				found = true
			}
		}
		return err
	})
	return found, err
}

// Announcer sends gratuitous ARP and unsolicited NA; it keeps one socket
// per interface and family open between bursts. The sockets only send: the
// ARP one is bound to no protocol and the ICMPv6 one filters out every
// type, so that the LAN's ARP and neighbour discovery traffic does not
// queue up in sockets nobody reads.
type Announcer struct {
	mu   sync.Mutex
	arp  map[string]*packet.Conn
	ndp  map[string]*ndp.Conn
	ifis map[string]*net.Interface
}

// NewAnnouncer returns an Announcer with no socket open yet.
func NewAnnouncer() *Announcer {
	return &Announcer{arp: map[string]*packet.Conn{}, ndp: map[string]*ndp.Conn{}, ifis: map[string]*net.Interface{}}
}

// Prepare looks ifname up (a dump of every link through netlink) and opens
// its socket for v6 or IPv4 announcements now, so that a takeover's first
// announcement waits for neither.
func (an *Announcer) Prepare(ifname string, v6 bool) error {
	// A burst in progress holds the lock through its pauses; the caller
	// (the engine's loop) must not wait for it, and the burst's interface
	// is looked up by then anyway.
	if !an.mu.TryLock() {
		return nil
	}
	defer an.mu.Unlock()
	var err error
	if v6 {
		_, _, err = an.ndpConn(ifname)
	} else {
		_, err = an.arpConn(ifname)
	}
	return err
}

// iface is ifname's interface, cached. A cached entry can go stale (the
// interface recreated under its name): callers drop it on a send error.
func (an *Announcer) iface(ifname string) (*net.Interface, error) {
	if ifi, ok := an.ifis[ifname]; ok {
		return ifi, nil
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	an.ifis[ifname] = ifi
	return ifi, nil
}

// forget drops what is cached for ifname after a failure on it, so that
// the next burst looks the interface up and opens its sockets again.
func (an *Announcer) forget(ifname string) {
	delete(an.ifis, ifname)
	if c, ok := an.arp[ifname]; ok {
		c.Close()
		delete(an.arp, ifname)
	}
	if c, ok := an.ndp[ifname]; ok {
		c.Close()
		delete(an.ndp, ifname)
	}
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
				an.forget(a.Interface)
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

// arpConn is ifname's socket for gratuitous ARP, opened on first use.
func (an *Announcer) arpConn(ifname string) (*packet.Conn, error) {
	if c, ok := an.arp[ifname]; ok {
		return c, nil
	}
	ifi, err := an.iface(ifname)
	if err != nil {
		return nil, err
	}
	// Protocol 0: the kernel hands this socket no frame (packet(7)).
	c, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("gratuitous ARP on %s: %w", ifname, err)
	}
	an.arp[ifname] = c
	return c, nil
}

// ndpConn is ifname's socket for neighbour advertisements, opened on first
// use, and the interface.
func (an *Announcer) ndpConn(ifname string) (*ndp.Conn, *net.Interface, error) {
	ifi, err := an.iface(ifname)
	if err != nil {
		return nil, nil, err
	}
	if c, ok := an.ndp[ifname]; ok {
		return c, ifi, nil
	}
	c, _, err := ndp.Listen(ifi, ndp.Unspecified)
	if err != nil {
		return nil, nil, fmt.Errorf("neighbour advertisement on %s: %w", ifname, err)
	}
	var none ipv6.ICMPFilter
	none.SetAll(true) // block every type: nothing is read from this socket
	if err := c.SetICMPFilter(&none); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("neighbour advertisement on %s: %w", ifname, err)
	}
	an.ndp[ifname] = c
	return c, ifi, nil
}

// garp sends "who-has VIP tell VIP" from the interface's MAC to broadcast,
// with the broadcast target hardware address keepalived uses.
func (an *Announcer) garp(a Addr) error {
	c, err := an.arpConn(a.Interface)
	if err != nil {
		return err
	}
	mac := c.LocalAddr().(*packet.Addr).HardwareAddr
	ip := a.Prefix.Addr()
	p, err := arp.NewPacket(arp.OperationRequest, mac, ip, ethernet.Broadcast, ip)
	if err != nil {
		return err
	}
	payload, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	frame, err := (&ethernet.Frame{Destination: ethernet.Broadcast, Source: mac, EtherType: ethernet.EtherTypeARP, Payload: payload}).MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(frame, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
		return fmt.Errorf("gratuitous ARP for %s: %w", a, err)
	}
	return nil
}

// na sends an unsolicited neighbour advertisement for the VIP, from the VIP,
// to all nodes, with the override flag and the target link-layer address.
func (an *Announcer) na(a Addr) error {
	c, ifi, err := an.ndpConn(a.Interface)
	if err != nil {
		return err
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
	clear(an.ifis)
}
