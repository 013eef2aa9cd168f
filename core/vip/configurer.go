package vip

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

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
	// NewHandle, not NewHandleAt: entering a namespace, even the current
	// one, needs CAP_SYS_ADMIN, which the packaged agent does not have.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return &Configurer{h: h, links: map[string]netlink.Link{}}, nil
}

// Close closes the netlink socket.
func (c *Configurer) Close() { c.h.Close() }

// WatchRemoved reports every address removed from an interface of the
// calling thread's network namespace (the agent's: it runs in one), by
// anyone, until done is closed: the engine puts
// back a VIP someone else deleted while it is master (systemd-networkd or
// NetworkManager reapplying their configuration).
func (c *Configurer) WatchRemoved(done <-chan struct{}, removed func(ifname string, p netip.Prefix), failed func(error)) error {
	ch := make(chan netlink.AddrUpdate, 256)
	if err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{ErrorCallback: failed}); err != nil {
		return err
	}
	go func() {
		for u := range ch {
			if u.NewAddr {
				continue
			}
			ip, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if !ok {
				continue
			}
			ones, _ := u.LinkAddress.Mask.Size()
			if name := c.nameOf(u.LinkIndex); name != "" {
				removed(name, netip.PrefixFrom(ip.Unmap(), ones))
			}
		}
	}()
	return nil
}

// nameOf is the name of the interface with index idx ("" if it is gone).
func (c *Configurer) nameOf(idx int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, l := range c.links {
		if l.Attrs().Index == idx {
			return name
		}
	}
	l, err := c.h.LinkByIndex(idx)
	if err != nil {
		return ""
	}
	return l.Attrs().Name
}

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
	na, err := a.netlink()
	if err != nil {
		return false, err
	}
	err = c.do(a, func(l netlink.Link) error { return c.h.AddrAdd(l, na) })
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
	na, err := a.netlink()
	if err != nil {
		return false, err
	}
	err = c.do(a, func(l netlink.Link) error { return c.h.AddrDel(l, na) })
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
