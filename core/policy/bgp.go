package policy

import (
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/bgp"
	"github.com/vigil-ha/vigil/core/config"
)

// This file: the bgp block (the node's BGP speaker) and instances'
// bgp attribute.

// maxMD5Key is the longest TCP MD5 key Linux takes (TCP_MD5SIG_MAXKEYLEN).
const maxMD5Key = 80

// instanceBGP reads an instance's bgp attribute.
func (b *builder) instanceBGP(in *instanceBlock, out *config.Instance) {
	if in.BGP == nil {
		return
	}
	rng := attrRange(in.Body, "bgp", in.DefRange)
	switch {
	case *in.BGP != "master" && *in.BGP != "health":
		b.err(rng, "Invalid bgp mode", "bgp = %q: \"master\" announces the instance's addresses from its VRRP master; \"health\" runs no VRRP and announces them from every node whose checks pass.", *in.BGP)
	case b.raw.BGP == nil:
		b.err(rng, "No bgp block", "Instance %q announces over BGP, but the policy has no bgp block: add one with the node's asn and its peers.", in.Name)
	default:
		out.BGP = *in.BGP
	}
	if health(in) && out.Interface == "lo" {
		for _, v := range out.VIPs {
			if v.Prefix.Bits() != v.Prefix.Addr().BitLen() {
				b.err(attrRange(in.Body, "vips", in.DefRange), "Subnet on the loopback", "%v on lo would make the whole %v local to this node: write %v/%d.", v.Prefix, v.Prefix.Masked(), v.Prefix.Addr(), v.Prefix.Addr().BitLen())
			}
		}
	}
}

// health reports whether an instance runs in BGP health mode.
func health(in *instanceBlock) bool { return in.BGP != nil && *in.BGP == "health" }

// bgpInto gives each node that runs an instance announcing over BGP its
// speaker: AS, router id, the peers that name it.
func (b *builder) bgpInto(site *Site) {
	bb := b.raw.BGP
	if bb == nil {
		return
	}
	common, ok := b.bgpCommon(bb)
	peers := b.bgpPeers(bb)
	used := false
	nodes := b.nodeNames
	if b.perNode {
		nodes = []string{""}
	}
	for _, node := range nodes {
		c := site.configs[node]
		if !slices.ContainsFunc(c.Instances, func(in config.Instance) bool { return in.BGP != "" }) {
			continue
		}
		used = true
		sp := common
		sp.Peers = nil
		for _, p := range peers {
			if len(p.nodes) == 0 || node == "" || slices.Contains(p.nodes, node) {
				sp.Peers = append(sp.Peers, p.peer)
			}
		}
		if b.nodeSpeaker(bb, node, &sp) && ok {
			c.BGP = &sp
		}
	}
	if !used {
		b.warn(bb.DefRange, "BGP speaker unused", "No instance has bgp = \"master\" or \"health\", so no node runs a BGP speaker.")
	}
}

// bgpCommon reads the bgp block's own settings; ok is false after an
// error.
func (b *builder) bgpCommon(bb *bgpBlock) (sp bgp.Speaker, ok bool) {
	errs := len(b.diags)
	sp.GracefulShutdown, _ = b.duration(bb.Body, "graceful_shutdown", bb.GracefulShutdown, bb.DefRange)
	sp.Damping, _ = b.duration(bb.Body, "damping", bb.Damping, bb.DefRange)
	if bb.ASN != nil {
		sp.ASN, _ = b.asn(attrRange(bb.Body, "asn", bb.DefRange), *bb.ASN)
	}
	if bb.RouterID != nil {
		rng := attrRange(bb.Body, "router_id", bb.DefRange)
		if !b.perNode {
			b.err(rng, "router_id in a site", "Each node has its own router id: set bgp_router_id in the node blocks (or let it default to the node's IPv4 address).")
		} else {
			sp.RouterID, _ = b.routerID(rng, *bb.RouterID)
		}
	}
	return sp, len(b.diags) == errs
}

// nodeSpeaker sets the node's AS and router id; false after an error.
func (b *builder) nodeSpeaker(bb *bgpBlock, node string, sp *bgp.Speaker) bool {
	nb := b.nodes[node]
	ok := true
	if nb != nil && nb.BGPASN != nil {
		sp.ASN, ok = b.asn(attrRange(nb.Body, "bgp_asn", nb.DefRange), *nb.BGPASN)
	}
	if sp.ASN == 0 && ok {
		b.err(bb.DefRange, "No AS number", "Node %q announces over BGP but has no AS number: set asn in the bgp block, or bgp_asn in its node block.", nodeName(node))
		ok = false
	}
	switch {
	case nb != nil && nb.BGPRouterID != nil:
		var good bool
		sp.RouterID, good = b.routerID(attrRange(nb.Body, "bgp_router_id", nb.DefRange), *nb.BGPRouterID)
		ok = ok && good
	case nb != nil && nb.Address != nil:
		if a, err := netip.ParseAddr(*nb.Address); err == nil && a.Is4() {
			sp.RouterID = a
		}
	}
	if !sp.RouterID.IsValid() {
		where, fix := bb.DefRange, "set router_id in the bgp block"
		if nb != nil {
			where, fix = nb.DefRange, "set bgp_router_id (an IPv4 address) in its node block"
		}
		b.err(where, "No BGP router id", "Node %q announces over BGP but has no router id: %s.", nodeName(node), fix)
		ok = false
	}
	return ok
}

func (b *builder) asn(rng hcl.Range, v int64) (uint32, bool) {
	if v < 1 || v > math.MaxUint32 || v == 23456 {
		b.err(rng, "Invalid AS number", "%d is not an AS number: 1 to 4294967295 (23456 is AS_TRANS, reserved).", v)
		return 0, false
	}
	return uint32(v), true
}

func (b *builder) routerID(rng hcl.Range, v string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() || a.IsUnspecified() {
		b.err(rng, "Invalid router id", "%q: a BGP router id is written as an IPv4 address, like \"192.0.2.21\".", v)
		return netip.Addr{}, false
	}
	return a, true
}

// bgpPeer is a peer and the nodes it is for.
type bgpPeer struct {
	peer  bgp.Peer
	nodes []string
}

// bgpPeers reads the peer blocks.
func (b *builder) bgpPeers(bb *bgpBlock) []bgpPeer {
	hold, holdOK := b.duration(bb.Body, "hold_time", bb.HoldTime, bb.DefRange)
	keep, keepOK := b.duration(bb.Body, "keepalive", bb.Keepalive, bb.DefRange)
	retry, _ := b.duration(bb.Body, "connect_retry", bb.ConnectRetry, bb.DefRange)
	if holdOK && keepOK {
		b.timers(bb.Body, bb.DefRange, hold, keep, bb.Keepalive != nil)
	}
	var out []bgpPeer
	seen := map[netip.Addr]string{}
	for i := range bb.Peers {
		pb := &bb.Peers[i]
		p := bgp.Peer{Name: pb.Name, HoldTime: hold, Keepalive: keep, ConnectRetry: retry}
		if bb.Keepalive == nil {
			p.Keepalive = hold / 3
		}
		if a, err := netip.ParseAddr(pb.Address); err != nil {
			b.err(attrRange(pb.Body, "address", pb.DefRange), "Invalid peer address", "%q is not an IP address.", pb.Address)
		} else if prev, dup := seen[a]; dup {
			b.err(attrRange(pb.Body, "address", pb.DefRange), "Duplicate peer", "Peer %q has the address of peer %q.", pb.Name, prev)
		} else {
			p.Addr, seen[a] = a, pb.Name
		}
		p.ASN, _ = b.asn(attrRange(pb.Body, "asn", pb.DefRange), pb.ASN)
		b.peerTimers(pb, &p, bb.Keepalive != nil)
		if pb.Password != nil {
			if len(*pb.Password) == 0 || len(*pb.Password) > maxMD5Key {
				b.err(attrRange(pb.Body, "password", pb.DefRange), "Invalid TCP MD5 key", "The key has %d bytes: 1 to %d.", len(*pb.Password), maxMD5Key)
			}
			p.Password = *pb.Password
		}
		if pb.Multihop != nil {
			if *pb.Multihop < 1 || *pb.Multihop > 255 {
				b.err(attrRange(pb.Body, "multihop", pb.DefRange), "Invalid multihop TTL", "multihop = %d: 1 to 255.", *pb.Multihop)
			} else {
				p.Multihop = uint8(*pb.Multihop)
			}
		}
		p.BFD = b.bfd(pb.BFD)
		for j, n := range pb.Nodes {
			if _, ok := b.nodes[n]; !ok {
				b.err(elemRange(pb.Body, "nodes", j, pb.DefRange), "Unknown node", "%q names no node block.%s", n, Suggest(n, b.nodeNames))
			}
		}
		out = append(out, bgpPeer{peer: p, nodes: pb.Nodes})
	}
	if len(bb.Peers) == 0 {
		b.err(bb.DefRange, "No BGP peer", "A bgp block needs at least one peer block: the router the node announces to.")
	}
	return out
}

// peerTimers applies a peer's own hold time and keepalive.
func (b *builder) peerTimers(pb *bgpPeerBlock, p *bgp.Peer, keepSet bool) {
	if pb.HoldTime == nil && pb.Keepalive == nil {
		return
	}
	hold, ok1 := b.duration(pb.Body, "hold_time", pb.HoldTime, pb.DefRange)
	keep, ok2 := b.duration(pb.Body, "keepalive", pb.Keepalive, pb.DefRange)
	if pb.HoldTime != nil {
		p.HoldTime = hold
		if !keepSet && pb.Keepalive == nil {
			p.Keepalive = hold / 3
		}
	}
	if pb.Keepalive != nil {
		p.Keepalive = keep
	}
	if ok1 && ok2 {
		b.timers(pb.Body, pb.DefRange, p.HoldTime, p.Keepalive, true)
	}
}

// timers checks RFC 4271's rules: a hold time of 0 or at least 3s, and a
// keepalive shorter than it.
func (b *builder) timers(body hcl.Body, rng hcl.Range, hold, keep time.Duration, keepSet bool) {
	switch {
	case hold != 0 && hold < 3*time.Second:
		b.err(attrRange(body, "hold_time", rng), "Hold time too short", "hold_time = %v: 0s (no hold timer) or 3s and more (RFC 4271).", hold)
	case hold%time.Second != 0 || keep%time.Second != 0:
		b.err(attrRange(body, "hold_time", rng), "Timer not in whole seconds", "BGP timers are whole seconds: hold_time = %v, keepalive = %v.", hold, keep)
	case keepSet && hold != 0 && keep >= hold:
		b.err(attrRange(body, "keepalive", rng), "Keepalive not shorter than the hold time", "keepalive = %v must be shorter than hold_time = %v (a third is usual).", keep, hold)
	}
}

func (b *builder) bfd(bb *bgpBFDBlock) *bgp.BFD {
	if bb == nil {
		return nil
	}
	rx, _ := b.duration(bb.Body, "min_rx", bb.MinRx, bb.DefRange)
	tx, _ := b.duration(bb.Body, "min_tx", bb.MinTx, bb.DefRange)
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"min_rx", rx}, {"min_tx", tx}} {
		if v.d < 10*time.Millisecond || v.d > time.Minute {
			b.err(attrRange(bb.Body, v.name, bb.DefRange), "BFD interval out of range", "%s = %v: 10ms to 1m.", v.name, v.d)
		}
	}
	if *bb.Multiplier < 1 || *bb.Multiplier > 255 {
		b.err(attrRange(bb.Body, "multiplier", bb.DefRange), "Invalid BFD multiplier", "multiplier = %d: 1 to 255.", *bb.Multiplier)
		return nil
	}
	return &bgp.BFD{MinRx: rx, MinTx: tx, Multiplier: uint8(*bb.Multiplier)}
}
