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
	"golang.org/x/net/ipv6"
)

// Announcer sends gratuitous ARP and unsolicited NA. Each interface has its
// own sockets and its own lock, held for one packet at a time: a paced
// burst on one interface, or its pauses, never delays another instance's
// announcements or a Prepare. The sockets only send: the ARP one is bound
// to no protocol and the ICMPv6 one filters out every type, so that the
// LAN's ARP and neighbour discovery traffic does not queue up in sockets
// nobody reads.
type Announcer struct {
	mu    sync.Mutex // guards links, held only to find or add one
	links map[string]*sender
}

// sender is one interface's sockets.
type sender struct {
	name string
	mu   sync.Mutex // one packet at a time on this interface
	ifi  *net.Interface
	arp  *packet.Conn
	ndp  *ndp.Conn
}

// NewAnnouncer returns an Announcer with no socket open yet.
func NewAnnouncer() *Announcer { return &Announcer{links: map[string]*sender{}} }

func (an *Announcer) sender(ifname string) *sender {
	an.mu.Lock()
	defer an.mu.Unlock()
	s, ok := an.links[ifname]
	if !ok {
		s = &sender{name: ifname}
		an.links[ifname] = s
	}
	return s
}

// Prepare looks ifname up and opens its socket for v6 or IPv4
// announcements now, so that a takeover's first announcement waits for
// neither. It waits at most for one packet being sent on ifname.
func (an *Announcer) Prepare(ifname string, v6 bool) error {
	s := an.sender(ifname)
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if v6 {
		_, err = s.ndpConn()
	} else {
		_, err = s.arpConn()
	}
	return err
}

// Burst announces every address repeat times, round-robin as keepalived
// does (a, b, a, b, ...), pausing gap4 between ARP and gap6 between NA
// packets. It tries every packet and returns every error, joined.
func (an *Announcer) Burst(addrs []Addr, repeat int, gap4, gap6 time.Duration) error {
	var errs []error
	for r := 0; r < repeat; r++ {
		for _, a := range addrs {
			gap := gap4
			if a.Prefix.Addr().Is6() {
				gap = gap6
			}
			if err := an.sender(a.Interface).announce(a); err != nil {
				errs = append(errs, err)
			}
			if gap > 0 {
				time.Sleep(gap)
			}
		}
	}
	return errors.Join(errs...)
}

// announce sends one packet for a; after a failure the interface's
// sockets are reopened on the next use (it may have been recreated).
func (s *sender) announce(a Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if a.Prefix.Addr().Is6() {
		err = s.na(a)
	} else {
		err = s.garp(a)
	}
	if err != nil {
		s.reset()
	}
	return err
}

// iface is the interface, looked up once.
func (s *sender) iface() (*net.Interface, error) {
	if s.ifi != nil {
		return s.ifi, nil
	}
	ifi, err := net.InterfaceByName(s.name)
	if err != nil {
		return nil, err
	}
	s.ifi = ifi
	return ifi, nil
}

// reset closes the sockets and forgets the interface.
func (s *sender) reset() {
	s.ifi = nil
	if s.arp != nil {
		s.arp.Close()
		s.arp = nil
	}
	if s.ndp != nil {
		s.ndp.Close()
		s.ndp = nil
	}
}

// arpConn is the socket for gratuitous ARP, opened on first use.
func (s *sender) arpConn() (*packet.Conn, error) {
	if s.arp != nil {
		return s.arp, nil
	}
	ifi, err := s.iface()
	if err != nil {
		return nil, err
	}
	// Protocol 0: the kernel hands this socket no frame (packet(7)).
	c, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("gratuitous ARP on %s: %w", s.name, err)
	}
	s.arp = c
	return c, nil
}

// ndpConn is the socket for neighbour advertisements, opened on first use.
func (s *sender) ndpConn() (*ndp.Conn, error) {
	if s.ndp != nil {
		return s.ndp, nil
	}
	ifi, err := s.iface()
	if err != nil {
		return nil, err
	}
	c, _, err := ndp.Listen(ifi, ndp.Unspecified)
	if err != nil {
		return nil, fmt.Errorf("neighbour advertisement on %s: %w", s.name, err)
	}
	var none ipv6.ICMPFilter
	none.SetAll(true) // block every type: nothing is read from this socket
	if err := c.SetICMPFilter(&none); err != nil {
		c.Close()
		return nil, fmt.Errorf("neighbour advertisement on %s: %w", s.name, err)
	}
	s.ndp = c
	return c, nil
}

// garp sends "who-has VIP tell VIP" from the interface's MAC to broadcast,
// with the broadcast target hardware address keepalived uses.
func (s *sender) garp(a Addr) error {
	c, err := s.arpConn()
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
func (s *sender) na(a Addr) error {
	c, err := s.ndpConn()
	if err != nil {
		return err
	}
	ip := a.Prefix.Addr()
	m := &ndp.NeighborAdvertisement{Override: true, TargetAddress: ip,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: s.ifi.HardwareAddr}}}
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: ip.AsSlice(), IfIndex: s.ifi.Index}
	if err := c.WriteTo(m, cm, netip.IPv6LinkLocalAllNodes()); err != nil {
		return fmt.Errorf("neighbour advertisement for %s: %w", a, err)
	}
	return nil
}

// Close closes every socket.
func (an *Announcer) Close() {
	an.mu.Lock()
	defer an.mu.Unlock()
	for name, s := range an.links {
		s.mu.Lock()
		s.reset()
		s.mu.Unlock()
		delete(an.links, name)
	}
}
