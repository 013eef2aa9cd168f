// Package route adds and removes the routes and policy rules a master
// owns (keepalived's virtual_routes and virtual_rules) through one netlink
// socket in the namespace of the caller of New. Like core/vip, it reports
// whether it added or removed something, so that the engine removes only
// what it added.
package route

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/core/config"
)

// Configurer is a netlink socket for routes and rules.
type Configurer struct {
	mu sync.Mutex
	h  *netlink.Handle
}

// New opens the netlink socket in the current thread's namespace (without
// entering it, which would need CAP_SYS_ADMIN).
func New() (*Configurer, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return &Configurer{h: h}, nil
}

// Close closes the socket.
func (c *Configurer) Close() { c.h.Close() }

var types = map[string]int{"": unix.RTN_UNICAST, "unicast": unix.RTN_UNICAST, "blackhole": unix.RTN_BLACKHOLE,
	"unreachable": unix.RTN_UNREACHABLE, "prohibit": unix.RTN_PROHIBIT}

var scopes = map[string]netlink.Scope{"": netlink.SCOPE_UNIVERSE, "global": netlink.SCOPE_UNIVERSE,
	"link": netlink.SCOPE_LINK, "host": netlink.SCOPE_HOST}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func ip(a netip.Addr) net.IP {
	if !a.IsValid() {
		return nil
	}
	return a.AsSlice()
}

// netlinkRoute is r as netlink has it.
func (c *Configurer) netlinkRoute(r config.Route) (*netlink.Route, error) {
	nr := &netlink.Route{Dst: ipnet(r.To), Gw: ip(r.Via), Src: ip(r.Src), Table: r.Table, Priority: r.Metric,
		Type: types[r.Type], Scope: scopes[r.Scope], Protocol: unix.RTPROT_STATIC}
	if r.To.Addr().Is4() {
		nr.Family = netlink.FAMILY_V4
	} else {
		nr.Family = netlink.FAMILY_V6
	}
	if r.OnLink {
		nr.Flags = int(netlink.FLAG_ONLINK)
	}
	if r.Dev != "" {
		l, err := c.h.LinkByName(r.Dev)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", r.Dev, err)
		}
		nr.LinkIndex = l.Attrs().Index
	}
	return nr, nil
}

// AddRoute adds r; added is false when an equal route was there already
// (someone else's).
func (c *Configurer) AddRoute(r config.Route) (added bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nr, err := c.netlinkRoute(r)
	if err != nil {
		return false, err
	}
	err = c.h.RouteAdd(nr)
	if errors.Is(err, unix.EEXIST) {
		return false, nil
	}
	return err == nil, err
}

// RemoveRoute deletes r; removed is false when it was not there.
func (c *Configurer) RemoveRoute(r config.Route) (removed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nr, err := c.netlinkRoute(r)
	if err != nil {
		return false, nil // its interface is gone, and the route with it
	}
	err = c.h.RouteDel(nr)
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

// netlinkRule is r as netlink has it.
func netlinkRule(r config.Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Table, nr.Priority, nr.Invert = r.Table, -1, r.Invert
	if r.Priority != 0 {
		nr.Priority = r.Priority
	}
	if r.From.IsValid() {
		nr.Src = ipnet(r.From)
	}
	if r.To.IsValid() {
		nr.Dst = ipnet(r.To)
	}
	nr.IifName, nr.OifName = r.Iif, r.Oif
	if r.FWMark != 0 || r.FWMask != 0 {
		nr.Mark = r.FWMark
		if r.FWMask != 0 {
			nr.Mask = &r.FWMask
		}
	}
	nr.Family = netlink.FAMILY_V4
	if r.V6 || r.From.IsValid() && r.From.Addr().Is6() || r.To.IsValid() && r.To.Addr().Is6() {
		nr.Family = netlink.FAMILY_V6
	}
	return nr
}

// AddRule adds r; added is false when an equal rule was there already.
func (c *Configurer) AddRule(r config.Rule) (added bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err = c.h.RuleAdd(netlinkRule(r))
	if errors.Is(err, unix.EEXIST) {
		return false, nil
	}
	return err == nil, err
}

// RemoveRule deletes r; removed is false when it was not there.
func (c *Configurer) RemoveRule(r config.Rule) (removed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err = c.h.RuleDel(netlinkRule(r))
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return false, nil
	}
	return err == nil, err
}

// WatchRemoved calls removed whenever a route or rule is deleted from the
// calling thread's network namespace, by anyone, until done is closed:
// the engine then puts back what a master holds (a network manager
// reapplying its configuration deletes routes it did not add). removed
// says only that something went: the caller checks its own. It runs on
// the watcher's goroutine; failed reports a watch that ended.
func (c *Configurer) WatchRemoved(done <-chan struct{}, removed func(), failed func(error)) error {
	s, err := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE)
	if err != nil {
		return fmt.Errorf("netlink route monitor: %w", err)
	}
	go func() {
		<-done
		s.Close()
	}()
	go func() {
		for {
			msgs, from, err := s.Receive()
			switch {
			case errors.Is(err, unix.ENOBUFS):
				removed() // events were lost: one of them may have been a deletion
				continue
			case err != nil:
				select {
				case <-done:
				default:
					failed(err)
				}
				return
			case from.Pid != nl.PidKernel:
				continue
			}
			for _, m := range msgs {
				if m.Header.Type == unix.RTM_DELROUTE || m.Header.Type == unix.RTM_DELRULE {
					removed()
					break
				}
			}
		}
	}()
	return nil
}
