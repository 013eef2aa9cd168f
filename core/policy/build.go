package policy

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Site is a whole validated policy: every node's Config and what plan needs.
type Site struct {
	File    string
	Name    string
	PerNode bool     // keepalived's shape: no node blocks, one node's file
	Nodes   []string // in file order; empty for a per-node file
	configs map[string]*Config
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
func (s *Site) Config(node string) (*Config, error) {
	if s.PerNode {
		c := *s.configs[""]
		c.Node = node
		return &c, nil
	}
	c, ok := s.configs[node]
	if !ok {
		return nil, fmt.Errorf("%s: no node %q in the policy (nodes: %s).%s", s.File, node, strings.Join(s.Nodes, ", "), suggest(node, s.Nodes))
	}
	return c, nil
}

// Configs returns every node's configuration (one for a per-node file).
func (s *Site) Configs() []*Config {
	out := make([]*Config, 0, len(s.configs))
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
		configs: map[string]*Config{}, nodeAddrs: map[string]netip.Addr{}, routerIDs: map[string]string{}}

	common := b.commonConfig()
	nodes := b.nodeNames
	if b.perNode {
		nodes = []string{""}
	}
	for _, n := range nodes {
		c := common.clone()
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
	for i := range b.raw.Nodes {
		n := &b.raw.Nodes[i]
		if unique("node", n.Name, n.DefRange) {
			b.nodes[n.Name] = n
			b.nodeNames = append(b.nodeNames, n.Name)
		}
		if n.Address != nil {
			if _, err := netip.ParseAddr(*n.Address); err != nil {
				b.err(attrRange(n.Body, "address", n.DefRange), "Invalid node address", "%q is not an IP address (no prefix length here): write it like \"192.0.2.21\".", *n.Address)
			}
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
		if b.builtinBlock(p) && (p.SHA256 != nil || len(p.Args) > 0) {
			b.err(p.DefRange, "Settings a built-in plugin cannot take", "plugin %q without a path sets options of the built-in plugin of that name, which is part of vigil itself: only user applies. Give a path to run an external binary instead.", p.Name)
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

// checkUser checks the user plugins run as. root for every plugin draws a
// warning; root named for one plugin (nginx-action starts nginx) is a
// deliberate, narrow choice and does not.
func (b *builder) checkUser(user string, rng hcl.Range, sitewide bool) {
	if user == "root" {
		if sitewide {
			b.warn(rng, "Plugins run as root", "plugin_user = \"root\" gives every plugin full control of the node. Prefer an unprivileged user, and user = \"root\" in the plugin block of the one that needs it (nginx-action, to start nginx).")
		}
		return
	}
	if b.opts.UserExists != nil && !b.opts.UserExists(user) {
		b.err(rng, "Unknown user", "No local user %q to run plugins as. Create it (useradd --system %s) or name an existing one.", user, user)
	}
}

// builtinBlock reports whether a plugin block only sets options (the user)
// of a built-in plugin: it has the built-in's name and no path.
func (b *builder) builtinBlock(p *pluginBlock) bool {
	_, builtin := b.opts.Builtins[p.Name]
	return builtin && p.Path == nil
}

func pluginPath(site *siteBlock, p *pluginBlock) string {
	if p.Path != nil {
		return *p.Path
	}
	return strings.TrimRight(*site.PluginDir, "/") + "/" + p.Name
}

// pluginKind checks that name is a known plugin of kind.
func (b *builder) pluginKind(name, kind string, body hcl.Body, rng hcl.Range) {
	if p, ok := b.plugins[name]; (ok && !b.builtinBlock(p)) || b.opts.Builtins == nil {
		return
	}
	got, ok := b.opts.Builtins[name]
	if !ok {
		b.err(attrRange(body, "plugin", rng), "Unknown plugin", "No built-in plugin is named %q and no plugin block declares it.%s", name, suggest(name, append(keys(b.plugins), keys(b.opts.Builtins)...)))
		return
	}
	if got != kind {
		b.err(attrRange(body, "plugin", rng), "Wrong kind of plugin", "%q is a %s plugin; a %s needs a %s plugin.", name, got, kind, kind)
	}
}

func (b *builder) pluginConfig(cb *configBlock) PluginConfig {
	pc := PluginConfig{JSON: []byte("{}"), Ranges: map[string]hcl.Range{}}
	if cb == nil {
		return pc
	}
	attrs, diags := cb.Remain.JustAttributes()
	b.diags = append(b.diags, diags...)
	obj := map[string]cty.Value{}
	for name, a := range attrs {
		v, d := a.Expr.Value(nil)
		b.diags = append(b.diags, d...)
		if d.HasErrors() {
			continue
		}
		obj[name] = v
		pc.Ranges[name] = a.Expr.Range()
	}
	if sb, ok := cb.Remain.(*hclsyntax.Body); ok {
		pc.Block = sb.SrcRange
		for _, blk := range sb.Blocks {
			b.err(blk.DefRange(), "Nested block in plugin config", "Plugin settings are attributes (name = value); write %s = { ... } instead of a block.", blk.Type)
		}
	}
	v := cty.ObjectVal(obj)
	js, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		b.err(pc.Block, "Plugin config cannot be encoded", "%v", err)
		return pc
	}
	pc.JSON = js
	return pc
}

// commonConfig resolves what every node shares: site settings, checks,
// actions, notifiers, plugins.
func (b *builder) commonConfig() *Config {
	s := b.site
	c := &Config{File: b.path, Site: s.Name, CheckAdvertAddrs: *s.CheckAdvertAddrs, PluginUser: *s.PluginUser, PluginDir: *s.PluginDir}
	if s.StatusGroup != nil {
		c.StatusGroup = *s.StatusGroup
	}
	c.StartupDelay, _ = b.duration(s.Body, "startup_delay", s.StartupDelay, s.DefRange)
	if d, ok := b.duration(s.Body, "plugin_restart_max", s.PluginRestartMax, s.DefRange); ok {
		c.PluginRestartMax = d
		if d < 100*time.Millisecond {
			b.err(attrRange(s.Body, "plugin_restart_max", s.DefRange), "Restart wait too short",
				"plugin_restart_max = %q: restarts start 100ms apart, so the longest wait cannot be shorter. Use \"100ms\" or more.", *s.PluginRestartMax)
		}
	}
	if v := *s.Version; v != 2 && v != 3 {
		b.err(attrRange(s.Body, "version", s.DefRange), "Invalid VRRP version", "version = %d: VRRP versions are 2 (RFC 3768) and 3 (RFC 5798).", v)
	}
	b.notifyNames(s.Body, "notify", s.Notify, s.DefRange)
	for _, p := range b.raw.Plugins {
		pl := Plugin{Name: p.Name, Path: pluginPath(s, &p), Args: p.Args, User: *s.PluginUser, PassEnv: p.PassEnv}
		if b.builtinBlock(&p) {
			pl.Path = ""
		}
		if p.SHA256 != nil {
			pl.SHA256 = strings.ToLower(*p.SHA256)
		}
		if p.User != nil {
			pl.User = *p.User
		}
		c.Plugins = append(c.Plugins, pl)
	}
	for _, ck := range b.raw.Checks {
		b.pluginKind(ck.Plugin, "check", ck.Body, ck.DefRange)
		out := Check{Name: ck.Name, Plugin: ck.Plugin, Weight: *ck.Weight, Rise: *ck.Rise, Fall: *ck.Fall, Config: b.pluginConfig(ck.Config)}
		out.Interval, _ = b.duration(ck.Body, "interval", ck.Interval, ck.DefRange)
		out.Timeout = out.Interval
		if ck.Timeout != nil {
			out.Timeout, _ = b.duration(ck.Body, "timeout", ck.Timeout, ck.DefRange)
		}
		if out.Interval <= 0 && ck.Interval != nil {
			b.err(attrRange(ck.Body, "interval", ck.DefRange), "Check interval must be positive", "interval = %q: give how often the check runs, like \"2s\".", *ck.Interval)
		}
		if out.Timeout > out.Interval && out.Interval > 0 {
			b.warn(attrRange(ck.Body, "timeout", ck.DefRange), "Timeout longer than interval", "A run may take %v but a new one is due every %v; runs will be skipped while one is pending.", out.Timeout, out.Interval)
		}
		if out.Weight < -253 || out.Weight > 253 {
			b.err(attrRange(ck.Body, "weight", ck.DefRange), "Weight out of range", "weight = %d: weights run from -253 to 253 (0 means a failing check puts the instance in FAULT).", out.Weight)
		}
		for _, rf := range []struct {
			name string
			v    int
		}{{"rise", out.Rise}, {"fall", out.Fall}} {
			if rf.v < 1 {
				b.err(attrRange(ck.Body, rf.name, ck.DefRange), "Invalid "+rf.name, "%s = %d: it counts results in a row and must be at least 1.", rf.name, rf.v)
			}
		}
		for i, n := range ck.Nodes {
			b.nodeName(n, elemRange(ck.Body, "nodes", i, ck.DefRange))
		}
		c.Checks = append(c.Checks, out)
	}
	for _, a := range b.raw.Actions {
		b.pluginKind(a.Plugin, "action", a.Body, a.DefRange)
		out := Action{Name: a.Name, Plugin: a.Plugin, When: a.When, Retries: *a.Retries, Config: b.pluginConfig(a.Config)}
		out.Timeout, _ = b.duration(a.Body, "timeout", a.Timeout, a.DefRange)
		if _, ok := b.checks[a.When]; !ok {
			b.err(attrRange(a.Body, "when", a.DefRange), "Unknown check", "when = %q names no check block.%s", a.When, suggest(a.When, keys(b.checks)))
		}
		if out.Retries < 0 {
			b.err(attrRange(a.Body, "retries", a.DefRange), "Invalid retries", "retries = %d: it must be 0 or more.", out.Retries)
		}
		for i, in := range a.Instances {
			if _, ok := b.instances[in]; !ok {
				b.err(elemRange(a.Body, "instances", i, a.DefRange), "Unknown instance", "%q names no instance block.%s", in, suggest(in, keys(b.instances)))
			}
		}
		out.Instances = a.Instances
		if len(out.Instances) == 0 {
			for _, in := range b.raw.Instances {
				if slices.Contains(in.Track, a.When) {
					out.Instances = append(out.Instances, in.Name)
				}
			}
		}
		c.Actions = append(c.Actions, out)
	}
	for _, n := range b.raw.Notifiers {
		b.pluginKind(n.Plugin, "notifier", n.Body, n.DefRange)
		c.Notifiers = append(c.Notifiers, Notifier{Name: n.Name, Plugin: n.Plugin, Config: b.pluginConfig(n.Config)})
	}
	return c
}

func (b *builder) notifyNames(body hcl.Body, attr string, names []string, rng hcl.Range) {
	for i, n := range names {
		if _, ok := b.notifiers[n]; !ok {
			b.err(elemRange(body, attr, i, rng), "Unknown notifier", "%q names no notifier block.%s", n, suggest(n, keys(b.notifiers)))
		}
	}
}

func (b *builder) nodeName(n string, rng hcl.Range) bool {
	if _, ok := b.nodes[n]; ok {
		return true
	}
	if b.perNode {
		b.err(rng, "No node blocks", "%q names a node, but this file has no node blocks (a per-node file in keepalived's shape). Add node blocks to describe the site.", n)
	} else {
		b.err(rng, "Unknown node", "%q names no node block (nodes: %s).%s", n, strings.Join(b.nodeNames, ", "), suggest(n, b.nodeNames))
	}
	return false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (c *Config) clone() *Config {
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
