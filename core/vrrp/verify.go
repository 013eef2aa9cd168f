package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Expect is what the receiving instance is configured with.
type Expect struct {
	Version Version
	// Auth checks the advert's authentication; nil is NoAuth.
	Auth Auth
	// Interval is our advert interval. v2 requires the master's to match;
	// v3 learns the master's instead (RFC 5798 §6.4.2), so it is not checked.
	Interval time.Duration
	// Addrs, when CheckAddrs is set, must equal the advert's set. keepalived
	// logs a mismatch but, with vrrp_skip_check_adv_addr, accepts it; the
	// engine decides what to do with ErrAddrList.
	Addrs      []netip.Addr
	CheckAddrs bool
	// Peers, for a unicast instance, are the only sources accepted.
	// Without them (multicast) an IPv6 advert must come from a link-local
	// address (RFC 5798 §5.1.2.1).
	Peers []netip.Addr
	// PeerTTL is the TTL / hop limit range a unicast advert may arrive
	// with (keepalived's min_ttl / max_ttl, for peers behind routers); the
	// zero range is 255 only, on-link (RFC 5798 §7.1). Multicast adverts
	// are always 255.
	PeerTTL TTLRange
}

// TTLRange is an inclusive TTL / hop limit range; the zero value is
// TTL..TTL.
type TTLRange struct{ Min, Max uint8 }

// Contains reports whether ttl is in r.
func (r TTLRange) Contains(ttl int) bool {
	if r == (TTLRange{}) {
		return ttl == TTL
	}
	return ttl >= int(r.Min) && ttl <= int(r.Max)
}

// Verify applies the receive checks that need configuration and the IP
// header: TTL / hop limit 255 (or the unicast peers' range), the source (a
// configured unicast peer, or a link-local address for IPv6), version,
// authentication (want.Auth), v2 interval, and optionally the address
// list.
func Verify(a *Advert, src netip.Addr, ttl int, want *Expect) error {
	ttls := TTLRange{}
	if len(want.Peers) > 0 {
		ttls = want.PeerTTL
	}
	if !ttls.Contains(ttl) {
		return fmt.Errorf("%w: got %d", ErrTTL, ttl)
	}
	switch {
	case len(want.Peers) > 0 && !slices.Contains(want.Peers, src.Unmap()):
		return fmt.Errorf("%w: %v is not a unicast peer of this instance", ErrSource, src)
	case len(want.Peers) == 0 && src.Is6() && !src.Is4In6() && !src.IsLinkLocalUnicast():
		return fmt.Errorf("%w: %v is not link-local (RFC 5798 §5.1.2.1)", ErrSource, src)
	}
	if a.Version != want.Version {
		return fmt.Errorf("%w: got v%d, instance runs v%d", ErrVersion, a.Version, want.Version)
	}
	auth := want.Auth
	if auth == nil {
		auth = NoAuth{}
	}
	if err := auth.Check(a, src); err != nil {
		return err
	}
	if a.Version == V2 && a.Interval != want.Interval {
		return fmt.Errorf("%w: got %v, ours %v", ErrInterval, a.Interval, want.Interval)
	}
	if want.CheckAddrs && !sameSet(a.Addrs, want.Addrs) {
		return fmt.Errorf("%w: got %d addresses, ours %d", ErrAddrList, len(a.Addrs), len(want.Addrs))
	}
	return nil
}

func sameSet(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
outer:
	for _, x := range a {
		for _, y := range b {
			if x == y {
				continue outer
			}
		}
		return false
	}
	return true
}
