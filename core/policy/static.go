package policy

import (
	"net/netip"
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/config"
)

// This file: static blocks, what a node holds while Vigil runs
// (keepalived's static_ipaddress, static_routes and static_rules).

// staticsInto gives each node the static blocks that name it (or name no
// node), and refuses a static address that is also a VIP: an address
// either moves with an instance or stays.
func (b *builder) staticsInto(site *Site) {
	for i := range b.raw.Statics {
		sb := &b.raw.Statics[i]
		for j, n := range sb.Nodes {
			if _, ok := b.nodes[n]; !ok {
				b.err(elemRange(sb.Body, "nodes", j, sb.DefRange), "Unknown node", "%q names no node block.%s", n, Suggest(n, b.nodeNames))
			}
		}
		st, where := b.static(sb)
		nodes := b.nodeNames
		if b.perNode {
			nodes = []string{""}
		}
		reported := map[string]bool{} // one error per entry, not per node
		once := func(rng hcl.Range, summary, detail string, args ...any) {
			if key := rng.String() + summary; !reported[key] {
				reported[key] = true
				b.err(rng, summary, detail, args...)
			}
		}
		bad := func(k int, summary, detail string, args ...any) { once(where[k], summary, detail, args...) }
		for _, node := range nodes {
			if len(sb.Nodes) > 0 && node != "" && !slices.Contains(sb.Nodes, node) {
				continue
			}
			c := site.configs[node]
			for k, a := range st.Addrs {
				if a.Interface == "" {
					if nb := b.nodes[node]; nb != nil && nb.Interface != nil {
						a.Interface = *nb.Interface
					}
				}
				if a.Interface == "" {
					bad(k, "Static address without interface", "%v has no interface%s: set interface here, or in the node block.", a.Prefix, onNode(node))
					continue
				}
				if name := vipOwner(c, a.Prefix.Addr()); name != "" {
					bad(k, "Static address is a VIP", "%v is a VIP of instance %q%s: an address either moves with its instance or stays on the node. Remove one.", a.Prefix, name, onNode(node))
					continue
				}
				c.Static.Addrs = append(c.Static.Addrs, a)
			}
			for k, r := range st.Routes {
				if name := routeOwner(c, r.String()); name != "" {
					once(sb.Routes[k].DefRange, "Static route is an instance's", "%s is also a route of instance %q: the instance would remove it when it stops being master. Keep one.", r, name)
					continue
				}
				c.Static.Routes = append(c.Static.Routes, r)
			}
			for k, r := range st.Rules {
				if name := routeOwner(c, r.String()); name != "" {
					once(sb.Rules[k].DefRange, "Static rule is an instance's", "%s is also a rule of instance %q: the instance would remove it when it stops being master. Keep one.", r, name)
					continue
				}
				c.Static.Rules = append(c.Static.Rules, r)
			}
		}
	}
}

// static reads one static block, and where each address is written.
func (b *builder) static(sb *staticBlock) (out config.Static, where []hcl.Range) {
	for _, ab := range sb.Addresses {
		if v, ok := b.addressBlock(ab.Address, ab.Label, ab.Scope, ab.Interface, ab.DefRange); ok {
			out.Addrs = append(out.Addrs, v)
			where = append(where, ab.DefRange)
		}
	}
	for _, rb := range sb.Routes {
		v6 := false // "default" is IPv4's unless the gateway says otherwise
		if rb.Via != nil {
			if a, err := netip.ParseAddr(*rb.Via); err == nil {
				v6 = a.Is6()
			}
		}
		if r, ok := b.route(rb, v6); ok {
			out.Routes = append(out.Routes, r)
		}
	}
	for _, rb := range sb.Rules {
		if r, ok := b.rule(rb, false); ok {
			out.Rules = append(out.Rules, r)
		}
	}
	return out, where
}

// routeOwner is the instance of c with a route or rule written as key, or "".
func routeOwner(c *config.Config, key string) string {
	for _, in := range c.Instances {
		for _, r := range in.Routes {
			if r.String() == key {
				return in.Name
			}
		}
		for _, r := range in.Rules {
			if r.String() == key {
				return in.Name
			}
		}
	}
	return ""
}

// vipOwner is the instance of c that has a as a VIP, or "".
func vipOwner(c *config.Config, a netip.Addr) string {
	for _, in := range c.Instances {
		for _, v := range slices.Concat(in.VIPs, in.ExcludedVIPs) {
			if v.Prefix.Addr() == a {
				return in.Name
			}
		}
	}
	return ""
}

func onNode(node string) string {
	if node == "" {
		return ""
	}
	return " on node " + node
}
