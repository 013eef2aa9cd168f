package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigil-ha/vigil/core/priority"
)

// This file: rules across instances and nodes: one VRID per interface, tied priorities, peers' ceilings.

// peerCeilings sets each peer's MaxPriority from the peer's own resolved
// instance: its base priority with every positive weight it can gain.
func peerCeilings(site *Site) {
	ceilings := map[string]map[string]uint8{} // node -> instance -> max priority
	for n, c := range site.configs {
		ceilings[n] = make(map[string]uint8, len(c.Instances))
		for _, in := range c.Instances {
			ceilings[n][in.Name] = in.MaxPriority()
		}
	}
	for _, c := range site.configs {
		for i := range c.Instances {
			in := &c.Instances[i]
			for j := range in.Peers {
				p := &in.Peers[j]
				p.MaxPriority = p.Priority
				if m, ok := ceilings[p.Node][in.Name]; ok {
					p.MaxPriority = m
				}
			}
		}
	}
}

// checkVRIDs reports two instances with one VRID on one interface and family.
func (b *builder) checkVRIDs(site *Site) {
	reported := map[string]bool{}
	for _, n := range keys(site.configs) {
		seen := map[string]string{}
		for _, in := range site.configs[n].Instances {
			if in.Standalone() {
				continue // no VRRP, no VRID
			}
			key := fmt.Sprintf("%s/%v/%d", in.Interface, in.IPv6(), in.VRID)
			prev, dup := seen[key]
			seen[key] = in.Name
			if !dup || reported[prev+"\x00"+in.Name] {
				continue
			}
			reported[prev+"\x00"+in.Name] = true
			blk := b.instances[in.Name]
			b.err(attrRange(blk.Body, "vrid", blk.DefRange), "Duplicate VRID", "Instances %q and %q both use vrid %d on %s (%s); VRRP routers tell instances apart by VRID. Give one another vrid.",
				prev, in.Name, in.VRID, in.Interface, familyWord(in.IPv6()))
		}
		// Virtual MAC interfaces are the node's: one name, one instance.
		vmacs := map[string]string{}
		for _, in := range site.configs[n].Instances {
			if in.VMAC == "" {
				continue
			}
			if prev, dup := vmacs[in.VMAC]; dup && !reported["vmac\x00"+prev+"\x00"+in.Name] {
				reported["vmac\x00"+prev+"\x00"+in.Name] = true
				blk := b.instances[in.Name]
				b.err(attrRange(blk.Body, "use_vmac", blk.DefRange), "Virtual MAC interface used twice", "Instances %q and %q both put their virtual MAC on %s (an IPv4 and an IPv6 instance with one VRID are named alike). Set vmac_interface on one.",
					prev, in.Name, in.VMAC)
			}
			vmacs[in.VMAC] = in.Name
		}
	}
}

// checkTies warns when two nodes hold one priority for an instance.
func (b *builder) checkTies(site *Site) {
	for _, si := range site.instances {
		byPrio := map[uint8][]string{}
		for n, p := range si.Priorities {
			byPrio[p] = append(byPrio[p], n)
		}
		for p, nodes := range byPrio {
			if len(nodes) < 2 {
				continue
			}
			sort.Strings(nodes)
			blk := b.instances[si.Name]
			if blk == nil || health(blk) {
				continue // in health mode, equal priorities share the traffic (ECMP)
			}
			b.warn(attrRange(blk.Body, "priority", blk.DefRange), "Tied priorities",
				"Nodes %s have priority %d for %s. %s", joinAnd(nodes), p, si.Name, tieWinner(site, nodes))
		}
	}
}

// tieWinner says who wins a tie: the higher primary address (RFC 5798 §6.4.3).
func tieWinner(site *Site, nodes []string) string {
	best, known := "", true
	for _, n := range nodes {
		a := site.nodeAddrs[n]
		if !a.IsValid() {
			known = false
			break
		}
		if best == "" || priority.Outranks(0, a, 0, site.nodeAddrs[best]) {
			best = n
		}
	}
	if !known {
		return "The tie goes to the higher primary address, which this policy does not give: set address in the node blocks, or give them different priorities."
	}
	return fmt.Sprintf("%s wins the tie with the higher primary address %v.", best, site.nodeAddrs[best])
}

// joinAnd writes "a and b" or "a, b and c".
func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
