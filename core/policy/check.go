package policy

import (
	"slices"

	"github.com/vigil-ha/vigil/core/config"
)

// This file: check and notifier blocks: which node runs which.

// checksPerNode keeps, on each node, only the checks whose nodes list names
// it (or that have none), and only the tracks and actions of those checks;
// an action that names no instances gets the node's that track its check.
func (b *builder) checksPerNode(site *Site) {
	for node, c := range site.configs {
		runs := func(check string) bool {
			ck := b.checks[check]
			return ck == nil || len(ck.Nodes) == 0 || node == "" || slices.Contains(ck.Nodes, node)
		}
		var checks []config.Check
		for _, ck := range c.Checks {
			if runs(ck.Name) {
				checks = append(checks, ck)
			}
		}
		for i := range c.Instances {
			var tr []config.TrackCheck
			for _, t := range c.Instances[i].Track {
				if runs(t.Check) {
					tr = append(tr, t)
				}
			}
			c.Instances[i].Track = tr
		}
		var actions []config.Action
		for _, a := range c.Actions {
			if !runs(a.When) {
				continue
			}
			if len(a.Instances) == 0 {
				// An action without instances yields those that track its
				// check on this node.
				for _, in := range c.Instances {
					if slices.ContainsFunc(in.Track, func(t config.TrackCheck) bool { return t.Check == a.When }) {
						a.Instances = append(a.Instances, in.Name)
					}
				}
			}
			actions = append(actions, a)
		}
		c.Checks, c.Actions = checks, actions
	}
}

// notifiersPerNode keeps, on each node, only the notifiers whose nodes
// list names it (or that have none), and only those in the instances'
// and sync groups' notify lists.
func (b *builder) notifiersPerNode(site *Site) {
	for node, c := range site.configs {
		uses := func(name string) bool {
			n := b.notifiers[name]
			return n == nil || len(n.Nodes) == 0 || node == "" || slices.Contains(n.Nodes, node)
		}
		c.Notifiers = slices.DeleteFunc(slices.Clone(c.Notifiers), func(n config.Notifier) bool { return !uses(n.Name) })
		for i := range c.Instances {
			c.Instances[i].Notify = slices.DeleteFunc(slices.Clone(c.Instances[i].Notify), func(n string) bool { return !uses(n) })
		}
		for i := range c.SyncGroups {
			c.SyncGroups[i].Notify = slices.DeleteFunc(slices.Clone(c.SyncGroups[i].Notify), func(n string) bool { return !uses(n) })
		}
	}
}
