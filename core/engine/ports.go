package engine

import (
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/transport"
	"github.com/vigil-ha/vigil/core/vip"
)

// The engine reaches the kernel through these small interfaces (and VMACs,
// in vmactable.go), so that its rules (which addresses it may remove,
// reloads, sync groups) are tested with fakes, and only the adapters need
// a real kernel.

// Adverts opens an instance's advert channel: packets for vrid on ifname
// and family go to h until the channel is closed.
type Adverts interface {
	Open(ifname string, v6 bool, src netip.Addr, vrid uint8, h transport.Handler) (Channel, error)
}

// Channel sends one instance's adverts.
type Channel interface {
	Send(msg []byte, dst netip.Addr) error
	// Join receives adverts sent to a multicast group besides the RFC's.
	Join(group netip.Addr) error
	Source() netip.Addr // the primary address adverts leave from
	Close()
}

// Addresses configures addresses on interfaces. Add reports whether it
// added the address (false: it was already there); Remove whether it
// removed one; Present whether the address is on its interface.
type Addresses interface {
	Prepare(ifname string) error
	Add(a vip.Addr) (added bool, err error)
	Remove(a vip.Addr) (removed bool, err error)
	Present(a vip.Addr) (bool, error)
	// WatchRemoved reports addresses removed from interfaces, by anyone,
	// until done is closed.
	WatchRemoved(done <-chan struct{}, removed func(ifname string, p netip.Prefix), failed func(error)) error
	Close()
}

// Routes adds and removes routes and policy rules (core/route); added and
// removed are false when there was nothing to do. WatchRemoved calls
// removed, on its own goroutine, whenever any route or rule is deleted,
// until done closes.
type Routes interface {
	AddRoute(r config.Route) (added bool, err error)
	RemoveRoute(r config.Route) (removed bool, err error)
	AddRule(r config.Rule) (added bool, err error)
	RemoveRule(r config.Rule) (removed bool, err error)
	WatchRemoved(done <-chan struct{}, removed func(), failed func(error)) error
}

// Announcer sends gratuitous ARP and unsolicited NA for addresses.
type Announcer interface {
	Prepare(ifname string, v6 bool) error
	Burst(addrs []vip.Addr, repeat int, gap4, gap6 time.Duration) error
	Close()
}

// Links reports interface state: Up now, and changes through Watch until
// done closes. Watch calls changed on its own goroutine.
type Links interface {
	Up(name string) bool
	Watch(done <-chan struct{}, changed func(name string, up bool), failed func(error)) error
}

// Firewall drops packets to and from addresses (core/firewall): Drop
// replaces the whole set, empty removes the rules; Close removes them.
type Firewall interface {
	Drop(addrs []netip.Addr) error
	Close() error
}

// poolAdverts adapts a transport.Pool: one raw socket per interface and
// family, shared by instances and demultiplexed by VRID.
type poolAdverts struct{ pool *transport.Pool }

type muxChannel struct {
	pool *transport.Pool
	mux  *transport.Mux
	vrid uint8
	src  netip.Addr // its own source, or zero for the socket's
}

func (p poolAdverts) Open(ifname string, v6 bool, src netip.Addr, vrid uint8, h transport.Handler) (Channel, error) {
	mux, err := p.pool.Acquire(ifname, v6, src)
	if err != nil {
		return nil, err
	}
	if err := mux.Register(vrid, h); err != nil {
		p.pool.Release(mux)
		return nil, err
	}
	ch := &muxChannel{pool: p.pool, mux: mux, vrid: vrid}
	if v6 && src.Is6() && !src.Is4In6() {
		// Only an IPv6 unicast instance asks for its own source: the
		// socket's is the link-local address multicast needs.
		ch.src = src
	}
	return ch, nil
}

func (c *muxChannel) Send(msg []byte, dst netip.Addr) error {
	if c.src.IsValid() {
		return c.mux.SendFrom(msg, c.src, dst)
	}
	return c.mux.Send(msg, dst)
}

func (c *muxChannel) Source() netip.Addr {
	if c.src.IsValid() {
		return c.src
	}
	return c.mux.Source()
}
func (c *muxChannel) Join(group netip.Addr) error { return c.mux.Join(group) }
func (c *muxChannel) Close() {
	c.mux.Unregister(c.vrid)
	c.pool.Release(c.mux)
}

// netlinkLinks reads and follows link state through netlink.
type netlinkLinks struct{}

// up is the engine's notion of a usable link. Operational state "unknown"
// counts as up: veths and many virtual links report it while passing
// traffic.
func up(a *netlink.LinkAttrs) bool {
	return a.Flags&net.FlagUp != 0 && (a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown)
}

func (netlinkLinks) Up(name string) bool {
	l, err := netlink.LinkByName(name)
	return err == nil && up(l.Attrs())
}

func (netlinkLinks) Watch(done <-chan struct{}, changed func(string, bool), failed func(error)) error {
	ch := make(chan netlink.LinkUpdate, 64)
	if err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{ErrorCallback: failed}); err != nil {
		return err
	}
	go func() {
		for u := range ch {
			a := u.Link.Attrs()
			changed(a.Name, up(a))
		}
	}()
	return nil
}
