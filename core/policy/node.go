package policy

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// This file: node blocks.

func (b *builder) nodeName(n string, rng hcl.Range) bool {
	if _, ok := b.nodes[n]; ok {
		return true
	}
	if b.perNode {
		b.err(rng, "No node blocks", "%q names a node, but this file has no node blocks (a per-node file in keepalived's shape). Add node blocks to describe the site.", n)
	} else {
		b.err(rng, "Unknown node", "%q names no node block (nodes: %s).%s", n, strings.Join(b.nodeNames, ", "), Suggest(n, b.nodeNames))
	}
	return false
}
