package policy

import "slices"

// This file: check blocks: which node runs which check.

// checksPerNode keeps, on each node, only the checks whose nodes list names
// it (or that have none), and only the tracks and actions of those checks.
func (b *builder) checksPerNode(site *Site) {
	for node, c := range site.configs {
		runs := func(check string) bool {
			ck := b.checks[check]
			return ck == nil || len(ck.Nodes) == 0 || node == "" || slices.Contains(ck.Nodes, node)
		}
		var checks []Check
		for _, ck := range c.Checks {
			if runs(ck.Name) {
				checks = append(checks, ck)
			}
		}
		var actions []Action
		for _, a := range c.Actions {
			if runs(a.When) {
				actions = append(actions, a)
			}
		}
		c.Checks, c.Actions = checks, actions
		for i := range c.Instances {
			var tr []TrackCheck
			for _, t := range c.Instances[i].Track {
				if runs(t.Check) {
					tr = append(tr, t)
				}
			}
			c.Instances[i].Track = tr
		}
	}
}
