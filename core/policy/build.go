package policy

import (
	"github.com/vigil-ha/vigil/core/config"

	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Site is a whole validated policy: every node's Config and what plan needs.
type Site struct {
	File    string
	Name    string
	PerNode bool     // keepalived's shape: no node blocks, one node's file
	Nodes   []string // in file order; empty for a per-node file
	configs map[string]*config.Config
	// instances in file order, with every node's priority, for plan.
	instances []siteInstance
	nodeAddrs map[string]netip.Addr
	routerIDs map[string]string
}

type siteInstance struct {
	Name       string
	Priorities map[string]uint8 // node -> base priority; "" for per-node
	Range      hcl.Range
}

// Config returns the configuration node runs. A per-node file answers for
// any name (and for ""), as keepalived would run it on whichever host.
func (s *Site) Config(node string) (*config.Config, error) {
	if s.PerNode {
		c := *s.configs[""]
		c.Node = node
		return &c, nil
	}
	c, ok := s.configs[node]
	if !ok {
		return nil, fmt.Errorf("%s: no node %q in the policy (nodes: %s).%s", s.File, node, strings.Join(s.Nodes, ", "), Suggest(node, s.Nodes))
	}
	return c, nil
}

// Configs returns every node's configuration (one for a per-node file).
func (s *Site) Configs() []*config.Config {
	out := make([]*config.Config, 0, len(s.configs))
	for _, k := range keys(s.configs) {
		out = append(out, s.configs[k])
	}
	return out
}

// builder carries the state of one validation pass.
type builder struct {
	path  string
	opts  Options
	diags hcl.Diagnostics
	raw   *fileSchema
	site  *siteBlock

	nodes     map[string]*nodeBlock
	nodeNames []string
	checks    map[string]*checkBlock
	notifiers map[string]*notifierBlock
	plugins   map[string]*pluginBlock
	instances map[string]*instanceBlock
	perNode   bool
	// group4 and group6 are the site's multicast groups, when not the
	// RFC's (zero otherwise).
	group4, group6 netip.Addr
	// hmacs are the hmac blocks resolved so far (builder.hmac).
	hmacs map[*hmacBlock]config.HMAC
}

func (b *builder) err(rng hcl.Range, summary, detail string, args ...any) {
	b.diags = append(b.diags, errorAt(rng, summary, detail, args...))
}

func (b *builder) warn(rng hcl.Range, summary, detail string, args ...any) {
	b.diags = append(b.diags, warnAt(rng, summary, detail, args...))
}

// duration parses a duration attribute; ok is false after reporting an error.
func (b *builder) duration(body hcl.Body, name string, v *string, fallback hcl.Range) (time.Duration, bool) {
	if v == nil {
		return 0, true
	}
	d, err := time.ParseDuration(*v)
	if err != nil || d < 0 {
		b.err(attrRange(body, name, fallback), "Invalid duration",
			"%s = %q is not a duration. Write a number with a unit, like \"1s\", \"100ms\" or \"2m\".", name, *v)
		return 0, false
	}
	return d, true
}

func build(path string, raw *fileSchema, body *hclsyntax.Body, opts Options) (*Site, hcl.Diagnostics) {
	b := &builder{path: path, opts: opts, raw: raw,
		nodes: map[string]*nodeBlock{}, checks: map[string]*checkBlock{}, notifiers: map[string]*notifierBlock{},
		plugins: map[string]*pluginBlock{}, instances: map[string]*instanceBlock{}}
	b.site = raw.Site
	if b.site == nil {
		b.site = &siteBlock{Name: ""}
		applyDefaults(&struct{ S *siteBlock }{b.site})
	}
	b.perNode = len(raw.Nodes) == 0
	b.indexBlocks()
	site := &Site{File: path, Name: b.site.Name, PerNode: b.perNode, Nodes: b.nodeNames,
		configs: map[string]*config.Config{}, nodeAddrs: map[string]netip.Addr{}, routerIDs: map[string]string{}}

	common := b.commonConfig()
	nodes := b.nodeNames
	if b.perNode {
		nodes = []string{""}
	}
	for _, n := range nodes {
		c := withoutInstances(common)
		c.Node = n
		if nb := b.nodes[n]; nb != nil {
			c.RouterID = n
			if nb.RouterID != nil {
				c.RouterID = *nb.RouterID
			}
			if nb.Address != nil {
				if a, err := netip.ParseAddr(*nb.Address); err == nil {
					site.nodeAddrs[n] = a
				}
			}
		} else if b.site.RouterID != nil {
			c.RouterID = *b.site.RouterID
		}
		site.routerIDs[n] = c.RouterID
		site.configs[n] = c
	}
	b.instancesInto(site)
	b.checksPerNode(site)
	b.syncGroupsInto(site)
	b.notifiersPerNode(site)
	b.staticsInto(site)
	b.bgpInto(site)
	peerCeilings(site)
	b.checkVRIDs(site)
	b.checkTies(site)
	return site, b.diags
}

// indexBlocks checks names are unique and fills the lookup maps.
func (b *builder) indexBlocks() {
	seen := map[string]hcl.Range{}
	unique := func(kind, name string, rng hcl.Range) bool {
		if !validName(name) {
			b.err(rng, fmt.Sprintf("Invalid %s name", kind), "%q is not a valid %s name: names are 1 to %d letters, digits, '_', '-' and '.', starting with a letter, digit or '_'. They appear in log lines and some become file names in the state directory.", name, kind, maxNameLen)
			return false
		}
		key := kind + "\x00" + name
		if prev, dup := seen[key]; dup {
			b.err(rng, fmt.Sprintf("Duplicate %s %q", kind, name), "%s named %q is already defined at %s. Give each a name of its own.", article(kind), name, Where(prev))
			return false
		}
		seen[key] = rng
		return true
	}
	addrs := map[netip.Addr]*nodeBlock{}
	for i := range b.raw.Nodes {
		n := &b.raw.Nodes[i]
		if unique("node", n.Name, n.DefRange) {
			b.nodes[n.Name] = n
			b.nodeNames = append(b.nodeNames, n.Name)
		}
		if n.Address != nil {
			a, err := netip.ParseAddr(*n.Address)
			if err != nil {
				b.err(attrRange(n.Body, "address", n.DefRange), "Invalid node address", "%q is not an IP address (no prefix length here): write it like \"192.0.2.21\".", *n.Address)
				continue
			}
			// Two nodes with one address cannot both send from it: their
			// adverts and the equal-priority tie-break would be ambiguous.
			if prev, dup := addrs[a.Unmap()]; dup {
				b.err(attrRange(n.Body, "address", n.DefRange), "Duplicate node address",
					"node %q has address %s, which node %q already has at %s. Each node needs its own address.", n.Name, a, prev.Name, Where(attrRange(prev.Body, "address", prev.DefRange)))
				continue
			}
			addrs[a.Unmap()] = n
		}
	}
	for i := range b.raw.Plugins {
		p := &b.raw.Plugins[i]
		if unique("plugin", p.Name, p.DefRange) {
			b.plugins[p.Name] = p
		}
		if p.SHA256 != nil {
			if h, err := hex.DecodeString(*p.SHA256); err != nil || len(h) != 32 {
				b.err(attrRange(p.Body, "sha256", p.DefRange), "Invalid SHA-256", "sha256 must be 64 hexadecimal digits, as printed by `sha256sum %s`.", pluginPath(b.site, p))
			}
		}
		if p.User != nil {
			b.checkUser(*p.User, attrRange(p.Body, "user", p.DefRange), false)
		}
		if p.Group != nil && b.opts.GroupExists != nil && !b.opts.GroupExists(*p.Group) {
			b.err(attrRange(p.Body, "group", p.DefRange), "Unknown group", "No local group %q to run plugin %s as. Create it (groupadd --system %s) or name an existing one.", *p.Group, p.Name, *p.Group)
		}
		if b.builtinBlock(p) && (p.SHA256 != nil || len(p.Args) > 0) {
			b.err(p.DefRange, "Settings a built-in plugin cannot take", "plugin %q without a path sets options of the built-in plugin of that name, which is part of vigil itself: only user and group apply. Give a path to run an external binary instead.", p.Name)
		}
	}
	if len(b.raw.Checks)+len(b.raw.Actions)+len(b.raw.Notifiers) > 0 {
		b.checkUser(*b.site.PluginUser, attrRange(b.site.Body, "plugin_user", b.site.DefRange), true)
	}
	for i := range b.raw.Checks {
		c := &b.raw.Checks[i]
		if unique("check", c.Name, c.DefRange) {
			b.checks[c.Name] = c
		}
	}
	for i := range b.raw.Notifiers {
		n := &b.raw.Notifiers[i]
		if unique("notifier", n.Name, n.DefRange) {
			b.notifiers[n.Name] = n
		}
	}
	for i := range b.raw.Instances {
		in := &b.raw.Instances[i]
		if unique("instance", in.Name, in.DefRange) {
			b.instances[in.Name] = in
		}
	}
	for i := range b.raw.Actions {
		unique("action", b.raw.Actions[i].Name, b.raw.Actions[i].DefRange)
	}
	for i := range b.raw.SyncGroups {
		unique("sync_group", b.raw.SyncGroups[i].Name, b.raw.SyncGroups[i].DefRange)
	}
}

const maxNameLen = 64

// validName reports whether a block name is an identifier: safe in a log
// line, and as a file name (notifier queues are named after notifiers).
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// withoutInstances is a copy of c's node-wide settings.
func withoutInstances(c *config.Config) *config.Config {
	n := *c
	n.Instances = nil
	return &n
}

func article(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "An " + noun
	}
	return "A " + noun
}
