package policy

import (
	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/syncgroup"
)

// This file: sync_group blocks: members, and the rule that their tracked sources fault.

func (b *builder) syncGroupsInto(site *Site) {
	member := map[string]string{}
	for _, g := range b.raw.SyncGroups {
		b.notifyNames(g.Body, "notify", g.Notify, g.DefRange)
		for i, name := range g.Instances {
			rng := elemRange(g.Body, "instances", i, g.DefRange)
			if _, ok := b.instances[name]; !ok {
				b.err(rng, "Unknown instance", "%q names no instance block.%s", name, Suggest(name, keys(b.instances)))
				continue
			}
			if prev, ok := member[name]; ok {
				b.err(rng, "Instance in two sync groups", "%q is already in sync group %q; an instance can follow one group only.", name, prev)
				continue
			}
			member[name] = g.Name
		}
		warned := map[string]bool{}
		for _, c := range site.configs {
			c.SyncGroups = append(c.SyncGroups, config.SyncGroup{Name: g.Name, Instances: g.Instances, Notify: g.Notify})
			for i := range c.Instances {
				in := &c.Instances[i]
				if member[in.Name] != g.Name {
					continue
				}
				in.SyncGroup = g.Name
				// A member's tracked sources fault instead of weighing.
				weighted := false
				for j := range in.Track {
					src, ignored := syncgroup.Track(in.Track[j].Source())
					weighted = weighted || ignored
					in.Track[j].Fault = src.Fault
				}
				for j := range in.TrackIfs {
					src, ignored := syncgroup.Track(in.TrackIfs[j].Source())
					weighted = weighted || ignored
					in.TrackIfs[j].Fault = src.Fault
				}
				if weighted && !warned[in.Name] {
					warned[in.Name] = true
					blk := b.instances[in.Name]
					b.warn(attrRange(blk.Body, "track", blk.DefRange), "Weights ignored in a sync group",
						"%s is in sync group %q: its tracked checks and interfaces do not change its priority; failing, they put the whole group in FAULT, as keepalived does. Set weight = 0 to say so.", in.Name, g.Name)
				}
			}
		}
	}
}
