package policy

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-ha/vigil/core/config"
)

// routes reads an instance's route and rule blocks (keepalived's
// virtual_routes and virtual_rules), each of one family: the instance's
// where nothing else says.
func (b *builder) routes(in *instanceBlock, out *config.Instance) {
	v6 := out.IPv6()
	for _, rb := range in.Routes {
		if r, ok := b.route(rb, v6); ok {
			out.Routes = append(out.Routes, r)
		}
	}
	for _, rb := range in.Rules {
		if r, ok := b.rule(rb, v6); ok {
			out.Rules = append(out.Rules, r)
		}
	}
}

func (b *builder) route(rb routeBlock, v6 bool) (config.Route, bool) {
	r := config.Route{Table: deref(rb.Table), Metric: deref(rb.Metric), Scope: deref(rb.Scope), Type: deref(rb.Type), Dev: deref(rb.Dev), OnLink: *rb.OnLink}
	ok := true
	bad := func(attr, summary, detail string, args ...any) {
		b.err(attrRange(rb.Body, attr, rb.DefRange), summary, detail, args...)
		ok = false
	}
	if rb.To == "default" {
		r.To = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if v6 {
			r.To = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	} else if p, good := prefixOf(rb.To); good {
		r.To = p
	} else {
		bad("to", "Invalid route destination", "to = %q: write a prefix like \"198.51.100.0/24\", or \"default\".", rb.To)
	}
	for _, a := range []struct {
		name string
		v    *string
		to   *netip.Addr
	}{{"via", rb.Via, &r.Via}, {"src", rb.Src, &r.Src}} {
		if a.v == nil {
			continue
		}
		addr, err := netip.ParseAddr(*a.v)
		switch {
		case err != nil:
			bad(a.name, "Invalid route address", "%s = %q is not an IP address.", a.name, *a.v)
		case r.To.IsValid() && addr.Is6() != r.To.Addr().Is6():
			bad(a.name, "Route of two families", "%s = %v is not of the family of %v.", a.name, addr, r.To)
		default:
			*a.to = addr
		}
	}
	if !slices.Contains([]string{"", "unicast", "blackhole", "unreachable", "prohibit"}, r.Type) {
		bad("type", "Invalid route type", "type = %q: unicast, blackhole, unreachable or prohibit.", r.Type)
	}
	if r.Type != "" && r.Type != "unicast" && (r.Via.IsValid() || r.Dev != "") {
		bad("via", "Gateway on a route that goes nowhere", "A %s route has no next hop: remove via and dev.", r.Type)
	}
	if !slices.Contains([]string{"", "global", "link", "host"}, r.Scope) {
		bad("scope", "Invalid route scope", "scope = %q: global, link or host.", r.Scope)
	}
	if r.Dev != "" && !validIfName(r.Dev) {
		bad("dev", "Invalid interface name", "dev = %q is not an interface name.", r.Dev)
	}
	if r.Table < 0 || r.Table > math.MaxUint32 || r.Metric < 0 || r.Metric > math.MaxUint32 {
		bad("table", "Route number out of range", "table and metric run from 0 to 4294967295.")
	}
	return r, ok
}

func (b *builder) rule(rb ruleBlock, v6 bool) (config.Rule, bool) {
	r := config.Rule{Table: rb.Table, Priority: deref(rb.Priority), Iif: deref(rb.Iif), Oif: deref(rb.Oif), Invert: *rb.Not, V6: v6}
	if rb.IPv6 != nil {
		r.V6 = *rb.IPv6
	}
	ok := true
	bad := func(attr, summary, detail string, args ...any) {
		b.err(attrRange(rb.Body, attr, rb.DefRange), summary, detail, args...)
		ok = false
	}
	for _, p := range []struct {
		name string
		v    *string
		to   *netip.Prefix
	}{{"from", rb.From, &r.From}, {"to", rb.To, &r.To}} {
		if p.v == nil {
			continue
		}
		if pre, good := prefixOf(*p.v); good {
			*p.to, r.V6 = pre, pre.Addr().Is6()
		} else {
			bad(p.name, "Invalid rule prefix", "%s = %q: write a prefix like \"192.0.2.0/24\" or an address.", p.name, *p.v)
		}
	}
	if r.From.IsValid() && r.To.IsValid() && r.From.Addr().Is6() != r.To.Addr().Is6() {
		bad("to", "Rule of two families", "from %v and to %v are of different families.", r.From, r.To)
	}
	if rb.FWMark != nil {
		mark, mask, _ := strings.Cut(*rb.FWMark, "/")
		m, err1 := strconv.ParseUint(mark, 0, 32)
		k, err2 := uint64(0), error(nil)
		if mask != "" {
			k, err2 = strconv.ParseUint(mask, 0, 32)
		}
		if err1 != nil || err2 != nil {
			bad("fwmark", "Invalid fwmark", "fwmark = %q: a number such as \"0x10\", or \"0x10/0xff\" with a mask.", *rb.FWMark)
		}
		r.FWMark, r.FWMask = uint32(m), uint32(k)
	}
	if r.Table <= 0 || r.Table > math.MaxUint32 || r.Priority < 0 || r.Priority > math.MaxUint32 {
		bad("table", "Rule number out of range", "table runs from 1 to 4294967295, priority from 0.")
	}
	return r, ok
}

// prefixOf reads a prefix, or an address as its host prefix.
func prefixOf(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
