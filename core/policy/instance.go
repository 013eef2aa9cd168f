package policy

import (
	"github.com/vigil-ha/vigil/core/config"

	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ha/vigil/core/priority"
	"github.com/vigil-ha/vigil/core/vrrp"
)

const defaultPriority = 100

// instancesInto validates every instance block and adds each node's
// resolved Instance to that node's Config.
func (b *builder) instancesInto(site *Site) {
	for i := range b.raw.Instances {
		in := &b.raw.Instances[i]
		inst, prios, tracks, ok := b.instance(in)
		preempts := b.preempts(in)
		si := siteInstance{Name: in.Name, Priorities: prios, Range: in.DefRange}
		site.instances = append(site.instances, si)
		if !ok {
			continue
		}
		nodes := b.nodeNames
		if b.perNode {
			nodes = []string{""}
		}
		missingIf, warnedWeights := false, false
		for _, n := range nodes {
			prio, runs := prios[n]
			if !runs {
				continue
			}
			ni := inst
			ni.Priority = prio
			ni.Preempt = preempts[n]
			// keepalived's default: accept, and in strict mode only the
			// owner accepts.
			ni.Accept = !inst.Strict || prio == priority.Owner
			if in.Accept != nil {
				ni.Accept = *in.Accept
				if !ni.Accept && prio == priority.Owner {
					who := "this node"
					if n != "" {
						who = "node " + n
					}
					b.err(attrRange(in.Body, "accept", in.DefRange), "Accept mode off for the address owner",
						"%s owns the addresses (priority 255): they are its own, which RFC 5798 6.1 has the owner always accept, and the drop rules would cut it off them. Remove accept = false, or give %s a priority below 255.", who, who)
				}
			}
			ni.Track = tracks[n]
			if all, ok := tracks[""]; ok {
				ni.Track = all
			}
			ni.VIPs, ni.ExcludedVIPs = slices.Clone(inst.VIPs), slices.Clone(inst.ExcludedVIPs)
			if ni.Interface == "" {
				if nb := b.nodes[n]; nb != nil && nb.Interface != nil {
					ni.Interface = *nb.Interface
				}
			}
			if ni.Interface == "" {
				missingIf = true
				continue
			}
			if nb := b.nodes[n]; nb != nil && nb.Address != nil {
				ni.SourceAddr, _ = netip.ParseAddr(*nb.Address)
			}
			if inst.SourceAddr.IsValid() {
				ni.SourceAddr = inst.SourceAddr
			}
			for _, other := range nodes {
				if p, ok := prios[other]; ok && other != n {
					ni.Peers = append(ni.Peers, config.Peer{Node: other, Priority: p, Addr: site.nodeAddrs[other]})
				}
			}
			if *in.Unicast && len(in.UnicastPeers) == 0 {
				ni.UnicastPeers = nil
				for _, p := range ni.Peers {
					if !p.Addr.IsValid() {
						b.err(attrRange(in.Body, "unicast", in.DefRange), "Unicast peer without address",
							"unicast = true sends adverts to the other nodes' addresses, but node %q has no address. Set address in its node block.", p.Node)
						break
					}
					ni.UnicastPeers = append(ni.UnicastPeers, p.Addr)
				}
			}
			if !warnedWeights {
				warnedWeights = b.weightRange(in, n, &ni)
			}
			b.ownerAddress(in, n, &ni)
			site.configs[n].Instances = append(site.configs[n].Instances, ni)
		}
		if missingIf {
			b.err(in.DefRange, "No interface", "Instance %q has no interface: set interface here or in each node block that runs it.", in.Name)
		}
	}
}

// instance resolves what an instance block says for every node, the base
// priority of each node that runs it and the checks each tracks
// (trackChecks); ok is false when the block has errors.
func (b *builder) instance(in *instanceBlock) (inst config.Instance, prios map[string]uint8, tracks map[string][]config.TrackCheck, ok bool) {
	errs := len(b.diags)
	inst = config.Instance{Name: in.Name}
	b.identity(in, &inst)
	b.addresses(in, &inst)
	b.auth(in, &inst)
	b.unicastPeers(in, &inst)
	b.tracking(in, &inst)
	tracks = b.trackChecks(in)
	b.notifyNames(in.Body, "notify", in.Notify, in.DefRange)
	inst.Notify = dedupe(append(slices.Clone(b.site.Notify), in.Notify...))
	inst.NotifyPriorityChanges = *b.site.NotifyPriorityChanges
	if in.NotifyPriorityChanges != nil {
		inst.NotifyPriorityChanges = *in.NotifyPriorityChanges
	}
	b.garp(in, &inst)
	b.vmac(in, &inst)
	b.routes(in, &inst)
	b.instanceBGP(in, &inst)
	b.strict(in, &inst)
	b.hmac(in, &inst)
	prios = b.priorities(in)
	return inst, prios, tracks, len(b.diags) == errs || !b.diags[errs:].HasErrors()
}

// identity: interface, VRID, version and timers.
func (b *builder) identity(in *instanceBlock, out *config.Instance) {
	if in.Interface != nil {
		out.Interface = *in.Interface
	}
	if health(in) {
		// No election: no VRID, no advert; the addresses go on the
		// loopback unless the policy names another local interface.
		if in.Interface == nil {
			out.Interface = "lo"
		}
		if in.VRID != nil {
			b.warn(attrRange(in.Body, "vrid", in.DefRange), "vrid unused", "Instance %q has bgp = \"health\": it runs no VRRP, so vrid means nothing. Remove it.", in.Name)
		}
		out.Version = vrrp.V3 // either family; nothing goes on the wire
		return
	}
	if in.VRID == nil {
		b.err(in.DefRange, "Missing vrid", "Instance %q needs vrid = <1-255>, the virtual router id shared by every node running it (keepalived's virtual_router_id).", in.Name)
	} else if v := *in.VRID; v < 1 || v > 255 {
		b.err(attrRange(in.Body, "vrid", in.DefRange), "VRID out of range", "vrid = %d: virtual router ids run from 1 to 255.", v)
	} else {
		out.VRID = uint8(v)
	}
	ver := *b.site.Version
	if in.Version != nil {
		ver = *in.Version
		if ver != 2 && ver != 3 {
			b.err(attrRange(in.Body, "version", in.DefRange), "Invalid VRRP version", "version = %d: VRRP versions are 2 (RFC 3768, IPv4 only) and 3 (RFC 5798, IPv4 and IPv6).", ver)
		}
	}
	out.Version = vrrp.Version(ver)
	if d, ok := b.duration(in.Body, "advert_interval", in.AdvertInterval, in.DefRange); ok {
		out.Interval = d
		b.checkInterval(in, out.Version, d)
	}
	out.PreemptDelay, _ = b.duration(in.Body, "preempt_delay", in.PreemptDelay, in.DefRange)
}

// addresses: vips, vip blocks and excluded_vips, one family, at most what
// an advert carries.
func (b *builder) addresses(in *instanceBlock, out *config.Instance) {
	out.VIPs = b.vips(in, "vips", in.VIPs)
	for _, vb := range in.VIPBlocks {
		if v, ok := b.addressBlock(vb.Address, vb.Label, vb.Scope, vb.Interface, vb.DefRange); ok {
			out.VIPs = append(out.VIPs, v)
		}
	}
	out.ExcludedVIPs = b.vips(in, "excluded_vips", in.ExcludedVIPs)
	if len(out.VIPs) == 0 && len(in.VIPs) == 0 && len(in.VIPBlocks) == 0 {
		// As keepalived: a VRRPv2 instance without VIPs runs (an election
		// whose outcome only notifiers act on) and advertises no
		// address; VRRPv3 requires one (RFC 5798 5.2.5).
		if out.Version == vrrp.V3 {
			b.err(in.DefRange, "No virtual addresses", "Instance %q has no vips, which VRRPv3 requires (RFC 5798 5.2.5): add vips = [\"192.0.2.24/24\"] or vip blocks, or use version = 2 for an instance only notifiers act on.", in.Name)
		} else {
			b.warn(in.DefRange, "No virtual addresses", "Instance %q has no vips: it elects a master and notifies, and moves no address (keepalived's notify-only instance). Add vips = [\"192.0.2.24/24\"] if it should.", in.Name)
		}
	}
	if len(out.VIPs) > vrrp.MaxAddrs {
		b.err(b.vipRange(in, vrrp.MaxAddrs, len(out.VIPs)), "Too many VIPs for one advert",
			"Instance %q advertises %d addresses; a VRRP advert carries at most %d. Move the rest to excluded_vips or to another instance.", in.Name, len(out.VIPs), vrrp.MaxAddrs)
	}
	b.families(in, out)
}

func (b *builder) unicastPeers(in *instanceBlock, out *config.Instance) {
	for i, p := range in.UnicastPeers {
		a, err := netip.ParseAddr(p)
		rng := elemRange(in.Body, "unicast_peers", i, in.DefRange)
		if err != nil {
			b.err(rng, "Invalid unicast peer", "%q is not an IP address.", p)
			continue
		}
		if len(out.VIPs) > 0 && a.Is4() != out.VIPs[0].Prefix.Addr().Is4() {
			b.err(rng, "Unicast peer of the wrong family", "%v is not of the family of this instance's VIPs (%v).", a, out.VIPs[0].Prefix)
		}
		out.UnicastPeers = append(out.UnicastPeers, a)
	}
	b.peerTTL(in, out)
	b.sourceAddress(in, out)
	if len(out.UnicastPeers) == 0 {
		out.Group = b.group4
		if out.IPv6() {
			out.Group = b.group6
		}
	}
}

// sourceAddress reads source_address: a per-node file's, of the
// instance's family.
func (b *builder) sourceAddress(in *instanceBlock, out *config.Instance) {
	if in.SourceAddress == nil {
		return
	}
	rng := attrRange(in.Body, "source_address", in.DefRange)
	a, err := netip.ParseAddr(*in.SourceAddress)
	switch {
	case !b.perNode:
		b.err(rng, "source_address in a site", "A site gives each node its address: set address in the node blocks (the source of that node's adverts) instead.")
	case err != nil:
		b.err(rng, "Invalid source address", "%q is not an IP address, like \"192.0.2.21\".", *in.SourceAddress)
	case len(out.VIPs) > 0 && a.Is4() != out.VIPs[0].Prefix.Addr().Is4():
		b.err(rng, "Source address of the wrong family", "%v is not of the family of this instance's VIPs (%v).", a, out.VIPs[0].Prefix)
	default:
		out.SourceAddr = a
	}
}

// peerTTL reads unicast_min_ttl / unicast_max_ttl: only for unicast, each
// 1-255, the lower one first.
func (b *builder) peerTTL(in *instanceBlock, out *config.Instance) {
	if in.UnicastMinTTL == nil && in.UnicastMaxTTL == nil {
		return
	}
	r := vrrp.TTLRange{Min: vrrp.TTL, Max: vrrp.TTL}
	for _, f := range []struct {
		name string
		v    *int
		to   *uint8
	}{{"unicast_min_ttl", in.UnicastMinTTL, &r.Min}, {"unicast_max_ttl", in.UnicastMaxTTL, &r.Max}} {
		if f.v == nil {
			continue
		}
		if *f.v < 1 || *f.v > vrrp.TTL {
			b.err(attrRange(in.Body, f.name, in.DefRange), "TTL out of range", "%s = %d: a TTL / hop limit runs from 1 to 255.", f.name, *f.v)
			return
		}
		*f.to = uint8(*f.v)
	}
	switch {
	case !*in.Unicast && len(in.UnicastPeers) == 0:
		b.err(attrRange(in.Body, "unicast_min_ttl", in.DefRange), "TTL range without unicast", "Multicast adverts always arrive with TTL 255 (RFC 5798 7.1); unicast_min_ttl and unicast_max_ttl apply to unicast peers. Remove them, or set unicast_peers.")
	case r.Min > r.Max:
		b.err(attrRange(in.Body, "unicast_min_ttl", in.DefRange), "Empty TTL range", "unicast_min_ttl = %d is above unicast_max_ttl = %d: every advert would be dropped.", r.Min, r.Max)
	default:
		out.PeerTTL = r
	}
}

// tracking: the interfaces that weigh on the instance (its checks are per
// node, trackChecks). A weight of 0 faults (the sync group rule adds the
// rest later).
func (b *builder) tracking(in *instanceBlock, out *config.Instance) {
	out.IgnoreOwnInterface = !*in.TrackOwnInterface
	for _, ti := range in.TrackInterfaces {
		out.TrackIfs = append(out.TrackIfs, config.TrackInterface{Name: ti.Name, Weight: *ti.Weight, Fault: *ti.Weight == 0, Reverse: *ti.Reverse})
		if w := *ti.Weight; w < -priority.MaxWeight || w > priority.MaxWeight {
			b.err(ti.DefRange, "Weight out of range", "weight = %d: weights run from -%d to %d.", w, priority.MaxWeight, priority.MaxWeight)
		}
	}
}

// trackChecks evaluates track: a list of check names for every node (under
// the key ""), or in a site a map of node name to list, as keepalived
// sites often track a check only in the instance a node is master of.
func (b *builder) trackChecks(in *instanceBlock) map[string][]config.TrackCheck {
	out := map[string][]config.TrackCheck{}
	attr, given := in.Body.(*hclsyntax.Body).Attributes["track"]
	if !given {
		out[""] = nil
		return out
	}
	list := func(node string, expr hclsyntax.Expression) {
		tuple, ok := expr.(*hclsyntax.TupleConsExpr)
		if !ok {
			b.err(expr.Range(), "Invalid track", "track is a list of check names, e.g. [\"nginx\"], or in a site a map of node name to such a list.")
			return
		}
		out[node] = []config.TrackCheck{}
		for _, e := range tuple.Exprs {
			v, d := e.Value(nil)
			if d.HasErrors() || v.IsNull() || v.Type() != cty.String {
				b.err(e.Range(), "Invalid track", "A tracked check is named by a string, e.g. \"nginx\".")
				continue
			}
			t := v.AsString()
			ck, ok := b.checks[t]
			if !ok {
				b.err(e.Range(), "Unknown check", "track names %q, but there is no check block of that name.%s", t, Suggest(t, keys(b.checks)))
				continue
			}
			out[node] = append(out[node], config.TrackCheck{Check: t, Weight: *ck.Weight, Fault: *ck.Weight == 0, Reverse: *ck.Reverse})
		}
	}
	obj, isMap := attr.Expr.(*hclsyntax.ObjectConsExpr)
	if !isMap {
		list("", attr.Expr)
		return out
	}
	if b.perNode {
		b.err(attr.Expr.Range(), "No node blocks", "A track map names nodes, but this file has no node blocks. Write a plain list, track = [\"nginx\"], in a per-node file.")
		out[""] = nil
		return out
	}
	for _, item := range obj.Items {
		k, d := item.KeyExpr.Value(nil)
		if d.HasErrors() || k.Type() != cty.String {
			b.err(item.KeyExpr.Range(), "Invalid track key", "Keys of the track map are node names.")
			continue
		}
		if name := k.AsString(); b.nodeName(name, item.KeyExpr.Range()) {
			list(name, item.ValueExpr)
		}
	}
	return out
}

// vmac: the virtual MAC interface, named as keepalived names it.
func (b *builder) vmac(in *instanceBlock, out *config.Instance) {
	if !*in.UseVMAC {
		for _, a := range []string{"vmac_interface", "vmac_xmit_base"} {
			if _, set := in.Body.(*hclsyntax.Body).Attributes[a]; set {
				b.warn(attrRange(in.Body, a, in.DefRange), a+" without use_vmac", "%s has no effect unless use_vmac = true.", a)
			}
		}
		return
	}
	out.VMAC = fmt.Sprintf("vrrp.%d", out.VRID)
	if in.VMACInterface != nil {
		out.VMAC = *in.VMACInterface
		if !validIfName(out.VMAC) {
			b.err(attrRange(in.Body, "vmac_interface", in.DefRange), "Invalid interface name",
				"vmac_interface = %q: an interface name is 1 to 15 bytes, without '/', ':', whitespace, and not \".\" or \"..\".", out.VMAC)
		}
	}
	out.VMACXmitBase = *in.VMACXmitBase
	if (*in.Unicast || len(in.UnicastPeers) > 0) && !out.VMACXmitBase {
		b.err(attrRange(in.Body, "use_vmac", in.DefRange), "Unicast from a virtual MAC", "%s sends unicast adverts: they leave from its interface, not from the virtual MAC. Set vmac_xmit_base = true, as keepalived requires.", in.Name)
	}
}

// validIfName is what Linux takes as an interface name.
func validIfName(s string) bool {
	return len(s) >= 1 && len(s) <= 15 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n")
}

// strict refuses, in strict mode, what the VRRP RFCs forbid or keepalived's
// vrrp_strict refuses, each at its attribute.
func (b *builder) strict(in *instanceBlock, out *config.Instance) {
	out.Strict = *b.site.Strict
	if in.Strict != nil {
		out.Strict = *in.Strict
	}
	if !out.Strict {
		return
	}
	why := "strict = true (keepalived's vrrp_strict) refuses it"
	if *in.Unicast || len(in.UnicastPeers) > 0 {
		name := "unicast"
		if len(in.UnicastPeers) > 0 {
			name = "unicast_peers"
		}
		b.err(attrRange(in.Body, name, in.DefRange), "Unicast in strict mode", "VRRP adverts go to the multicast group (RFC 5798 5.1.1.2); %s. Remove %s, or set strict = false.", why, name)
	}
	if out.Auth.Type != vrrp.AuthNone {
		b.err(in.Auth.DefRange, "Authentication in strict mode", "RFC 5798 removed authentication; %s. Remove the auth block, or set strict = false.", why)
	}
	if out.PreemptDelay > 0 {
		b.err(attrRange(in.Body, "preempt_delay", in.DefRange), "preempt_delay in strict mode", "The RFCs have no preemption delay; %s. Remove preempt_delay, or set strict = false.", why)
	}
	if in.Accept != nil && out.Version == vrrp.V2 {
		b.err(attrRange(in.Body, "accept", in.DefRange), "Accept mode on VRRPv2 in strict mode", "RFC 3768 has no accept mode; %s. Remove accept, set version = 3, or set strict = false.", why)
	}
	if len(out.VIPs) > 0 && out.VIPs[0].Prefix.Addr().Is6() && !out.VIPs[0].Prefix.Addr().IsLinkLocalUnicast() {
		b.err(b.vipRange(in, 0, len(out.VIPs)), "First IPv6 VIP not link-local in strict mode",
			"RFC 5798 5.2.9: an IPv6 virtual router's first address is its link-local one; %v is not, and %s. Put a fe80:: address first, or set strict = false.", out.VIPs[0].Prefix, why)
	}
	if out.VMACXmitBase {
		b.err(attrRange(in.Body, "vmac_xmit_base", in.DefRange), "vmac_xmit_base in strict mode", "Adverts of a virtual MAC instance leave from the virtual MAC (RFC 5798 7.3); %s. Remove vmac_xmit_base, or set strict = false.", why)
	}
	if out.GARP.MasterRefresh > 0 {
		b.err(attrRange(in.Body, "garp_master_refresh", in.DefRange), "Repeated gratuitous ARP in strict mode", "A master announces its addresses when it takes over, not periodically; %s. Remove garp_master_refresh, or set strict = false.", why)
	}
}

// garp: gratuitous ARP / NA settings, the instance's over the site's.
func (b *builder) garp(in *instanceBlock, out *config.Instance) {
	out.GARP.MasterDelay, _ = b.duration(in.Body, "garp_master_delay", cmp.Or(in.GARPMasterDelay, b.site.GARPMasterDelay), in.DefRange)
	out.GARP.MasterRefresh, _ = b.duration(in.Body, "garp_master_refresh", cmp.Or(in.GARPMasterRefresh, b.site.GARPMasterRefresh), in.DefRange)
	out.GARP.Interval, _ = b.duration(b.site.Body, "garp_interval", b.site.GARPInterval, b.site.DefRange)
	out.GARP.NAInterval, _ = b.duration(b.site.Body, "na_interval", b.site.NAInterval, b.site.DefRange)
	out.GARP.MasterRepeat = *b.site.GARPMasterRepeat
	if in.GARPMasterRepeat != nil {
		out.GARP.MasterRepeat = *in.GARPMasterRepeat
	}
	if out.GARP.MasterRepeat < 1 {
		b.err(attrRange(in.Body, "garp_master_repeat", in.DefRange), "Invalid garp_master_repeat", "garp_master_repeat = %d: at least one packet per VIP is sent.", out.GARP.MasterRepeat)
	}
}

func (b *builder) checkInterval(in *instanceBlock, ver vrrp.Version, d time.Duration) {
	rng := attrRange(in.Body, "advert_interval", in.DefRange)
	switch {
	case d <= 0:
		b.err(rng, "Invalid advert_interval", "advert_interval must be positive, like \"1s\".")
	case vrrp.ValidInterval(ver, d):
	case ver == vrrp.V2:
		b.err(rng, "VRRPv2 interval must be whole seconds", "advert_interval = %q: VRRPv2 carries the interval in whole seconds, 1s to 255s. For sub-second adverts use version = 3.", *in.AdvertInterval)
	case ver == vrrp.V3:
		b.err(rng, "VRRPv3 interval must be a multiple of 10ms", "advert_interval = %q: VRRPv3 carries centiseconds, 10ms to 40.95s.", *in.AdvertInterval)
	}
}

func (b *builder) vips(in *instanceBlock, attr string, list []string) []config.VIP {
	var out []config.VIP
	for i, s := range list {
		if v, ok := b.vip(s, elemRange(in.Body, attr, i, in.DefRange)); ok {
			out = append(out, v)
		}
	}
	return out
}

// addressBlock reads an address written as a block, with its own label,
// scope or interface.
func (b *builder) addressBlock(addr string, label, scope, iface *string, rng hcl.Range) (config.VIP, bool) {
	v, ok := b.vip(addr, rng)
	if !ok {
		return v, false
	}
	if label != nil {
		v.Label = *label
		if len(v.Label) > 15 {
			b.err(rng, "Label too long", "label %q has %d bytes; Linux allows 15.", v.Label, len(v.Label))
		}
	}
	v.Scope = *scope
	if !slices.Contains([]string{"global", "site", "link", "host"}, v.Scope) {
		b.err(rng, "Invalid scope", "scope = %q: use global, site, link or host.", v.Scope)
	}
	if iface != nil {
		v.Interface = *iface
	}
	return v, true
}

func (b *builder) vip(s string, rng hcl.Range) (config.VIP, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, err2 := netip.ParseAddr(s); err2 == nil {
			bits := 24
			if a.Is6() {
				bits = 64
			}
			b.err(rng, "VIP without prefix", "%q has no prefix length, so the subnet it belongs to would be a guess. Write it with its subnet's, like \"%s/%d\", or /%d for a lone address.", s, s, bits, a.BitLen())
		} else {
			b.err(rng, "Invalid VIP", "%q is not an address with a prefix, like \"192.0.2.24/24\" or \"2001:db8::24/64\".", s)
		}
		return config.VIP{}, false
	}
	return config.VIP{Prefix: p, Scope: "global"}, true
}

// families checks every advertised VIP has the instance's family and v2
// has no IPv6. Excluded VIPs are not in adverts: as in keepalived, they
// may be of either family.
func (b *builder) families(in *instanceBlock, out *config.Instance) {
	if len(out.VIPs) == 0 {
		return
	}
	v6 := out.VIPs[0].Prefix.Addr().Is6()
	for i, v := range out.VIPs {
		if v.Prefix.Addr().Is6() != v6 {
			b.err(b.vipRange(in, i, len(out.VIPs)), "VIP of the wrong family", "%v is %s but %v, the instance's first VIP, is %s. One instance carries one family: put the others in an instance of their own, or in excluded_vips (not advertised).",
				v.Prefix, familyWord(!v6), out.VIPs[0].Prefix, familyWord(v6))
		}
	}
	if v6 && out.Version == vrrp.V2 {
		b.err(attrRange(in.Body, "vips", in.DefRange), "IPv6 needs VRRPv3", "VRRPv2 (RFC 3768) carries only IPv4 addresses. Set version = 3 for IPv6 VIPs.")
	}
}

// vipRange finds the source of the i-th address across vips, vip blocks and
// excluded_vips, in that order.
func (b *builder) vipRange(in *instanceBlock, i, nVIPs int) hcl.Range {
	if i < len(in.VIPs) {
		return elemRange(in.Body, "vips", i, in.DefRange)
	}
	if i < nVIPs && i-len(in.VIPs) < len(in.VIPBlocks) {
		return in.VIPBlocks[i-len(in.VIPs)].DefRange
	}
	return elemRange(in.Body, "excluded_vips", i-nVIPs, in.DefRange)
}

func familyWord(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

func (b *builder) auth(in *instanceBlock, out *config.Instance) {
	a := in.Auth
	if a == nil {
		return
	}
	if out.Version == vrrp.V3 {
		b.err(a.DefRange, "VRRPv3 has no authentication", "RFC 5798 removed authentication. Remove the auth block, or use version = 2 to interoperate with PASS-authenticated peers.")
		return
	}
	switch strings.ToLower(a.Type) {
	case "none":
	case "pass":
		out.Auth.Type = vrrp.AuthPass
		if a.Password == nil || *a.Password == "" {
			b.err(a.DefRange, "Missing password", "auth type \"pass\" needs password = \"...\" (up to 8 bytes).")
			return
		}
		if len(*a.Password) > 8 {
			b.warn(attrRange(a.Body, "password", a.DefRange), "Password longer than 8 bytes",
				"VRRPv2 carries 8 bytes of password; only the first 8 are sent, as keepalived does. Shorten it so that the policy says what is on the wire.")
		}
		copy(out.Auth.Password[:], *a.Password)
	case "ah":
		b.err(attrRange(a.Body, "type", a.DefRange), "AH authentication is not supported", "IPsec AH (RFC 2338) is deprecated and not implemented. Use type = \"pass\" or VRRPv3.")
	default:
		b.err(attrRange(a.Body, "type", a.DefRange), "Unknown auth type", "type = %q: use \"pass\" or \"none\".", a.Type)
	}
}

// priorities evaluates the priority attribute: a number, or a map of node to
// number in a site. Nodes missing from the map do not run the instance.
func (b *builder) priorities(in *instanceBlock) map[string]uint8 {
	out := map[string]uint8{}
	attr, given := in.Body.(*hclsyntax.Body).Attributes["priority"]
	check := func(v cty.Value, rng hcl.Range) (uint8, bool) {
		if v.IsNull() || !v.Type().Equals(cty.Number) {
			b.err(rng, "Invalid priority", "A priority is a whole number from 1 to 255.")
			return 0, false
		}
		bf := v.AsBigFloat()
		n, acc := bf.Int64()
		if !bf.IsInt() || acc != 0 || n < 1 || n > 255 {
			b.err(rng, "Priority out of range", "priority %s: priorities run from 1 to 254, and 255 for the owner of the addresses (0 is reserved for resigning).", v.AsBigFloat().String())
			return 0, false
		}
		return uint8(n), true
	}
	all := func(p uint8) {
		if b.perNode {
			out[""] = p
			return
		}
		for _, n := range b.nodeNames {
			out[n] = p
		}
	}
	if !given {
		all(defaultPriority)
		return out
	}
	if obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr); ok {
		if b.perNode {
			b.err(attr.Expr.Range(), "No node blocks", "A priority map names nodes, but this file has no node blocks. Add node blocks, or write a plain priority = 100 for a per-node file.")
			return out
		}
		for _, item := range obj.Items {
			k, d := item.KeyExpr.Value(nil)
			if d.HasErrors() || k.Type() != cty.String {
				b.err(item.KeyExpr.Range(), "Invalid priority key", "Keys of the priority map are node names.")
				continue
			}
			name := k.AsString()
			if !b.nodeName(name, item.KeyExpr.Range()) {
				continue
			}
			v, d := item.ValueExpr.Value(nil)
			b.diags = append(b.diags, d...)
			if p, ok := check(v, item.ValueExpr.Range()); ok {
				out[name] = p
			}
		}
		for _, n := range b.nodeNames {
			if _, ok := out[n]; !ok && !hasKey(obj, n) {
				b.warn(attr.Expr.Range(), "Node not in priority map", "Node %q is not in %s's priority map, so it does not run %s. Add %s = <priority> if it should back it up.", n, in.Name, in.Name, n)
			}
		}
		return out
	}
	v, d := attr.Expr.Value(nil)
	b.diags = append(b.diags, d...)
	if d.HasErrors() {
		return out
	}
	if p, ok := check(v, attr.Expr.Range()); ok {
		all(p)
	}
	return out
}

// preempts is whether each node preempts (keepalived's nopreempt is
// false): one bool for every node, or in a site a map of node name to
// bool, a node missing from it preempting.
func (b *builder) preempts(in *instanceBlock) map[string]bool {
	out := map[string]bool{"": true}
	for _, n := range b.nodeNames {
		out[n] = true
	}
	attr, given := in.Body.(*hclsyntax.Body).Attributes["preempt"]
	if !given {
		return out
	}
	value := func(e hcl.Expression) (bool, bool) {
		v, d := e.Value(nil)
		if d.HasErrors() || v.IsNull() || !v.Type().Equals(cty.Bool) {
			b.err(e.Range(), "Invalid preempt", "preempt is true or false, or in a site a map of node name to true or false, e.g. { lb01 = true, lb02 = false }.")
			return false, false
		}
		return v.True(), true
	}
	obj, isMap := attr.Expr.(*hclsyntax.ObjectConsExpr)
	if !isMap {
		if p, ok := value(attr.Expr); ok {
			for n := range out {
				out[n] = p
			}
		}
		return out
	}
	if b.perNode {
		b.err(attr.Expr.Range(), "No node blocks", "A preempt map names nodes, but this file has no node blocks. Write preempt = false for a per-node file.")
		return out
	}
	for _, item := range obj.Items {
		k, d := item.KeyExpr.Value(nil)
		if d.HasErrors() || k.Type() != cty.String {
			b.err(item.KeyExpr.Range(), "Invalid preempt key", "Keys of the preempt map are node names.")
			continue
		}
		if name := k.AsString(); b.nodeName(name, item.KeyExpr.Range()) {
			if p, ok := value(item.ValueExpr); ok {
				out[name] = p
			}
		}
	}
	return out
}

func hasKey(obj *hclsyntax.ObjectConsExpr, name string) bool {
	for _, item := range obj.Items {
		if k, d := item.KeyExpr.Value(nil); !d.HasErrors() && k.Type() == cty.String && k.AsString() == name {
			return true
		}
	}
	return false
}

// weightRange warns when this node's checks can push the priority out of
// 1-254: keepalived clamps there, so the weights do less than they say.
// It reports whether it warned, so that an instance draws one warning, not
// one per node.
func (b *builder) weightRange(in *instanceBlock, node string, inst *config.Instance) bool {
	var sources []priority.Source
	for _, t := range inst.Track {
		if ck := b.checks[t.Check]; ck != nil && node != "" && len(ck.Nodes) > 0 && !slices.Contains(ck.Nodes, node) {
			continue // not run on this node
		}
		sources = append(sources, t.Source())
	}
	for _, t := range inst.TrackIfs {
		sources = append(sources, t.Source())
	}
	lo, hi := priority.Range(inst.Priority, sources)
	who := in.Name
	if node != "" {
		who = fmt.Sprintf("%s on %s", in.Name, node)
	}
	rng := attrRange(in.Body, "track", in.DefRange)
	switch {
	case inst.Priority == priority.Owner && len(sources) == 0:
		return false // an untracked owner stays at 255
	case inst.Priority == priority.Owner:
		b.warn(rng, "Address owner is tracked", "%s has priority 255 (address owner); weights change it to a non-owner priority. Use 254 if checks should move the address.", who)
	case lo < priority.Lowest:
		b.warn(rng, "Weights can push priority below 1", "With every negative weight applied %s drops to %d; it is clamped to 1, as keepalived does. Lower the weights or raise the priority.", who, lo)
	case hi > priority.Highest:
		b.warn(rng, "Weights can push priority above 254", "With every positive weight applied %s rises to %d; it is clamped to 254, as keepalived does.", who, hi)
	default:
		return false
	}
	return true
}

// ownerAddress warns when a VIP is the node's own address but the node
// is not the address owner (priority 255): RFC 5798 §6.1 makes the router
// that owns the address master whenever it is up. Vigil never removes an
// address it found configured, so on that node the VIP would answer even
// while another node is master.
func (b *builder) ownerAddress(in *instanceBlock, node string, inst *config.Instance) {
	if !inst.SourceAddr.IsValid() || inst.Priority == 255 {
		return
	}
	for i, v := range inst.VIPs {
		if v.Prefix.Addr() == inst.SourceAddr {
			b.warn(b.vipRange(in, i, len(inst.VIPs)), "VIP is a node's own address",
				"%s is node %s's address, but %s has priority %d there. A node that owns the address must be the address owner: give it priority = 255, or use another address as the VIP.",
				v.Prefix.Addr(), node, in.Name, inst.Priority)
		}
	}
}

func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
