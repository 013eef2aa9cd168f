package policy

import (
	"github.com/vigil-ha/vigil/core/config"

	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/priority"
	"github.com/vigil-ha/vigil/core/vrrp"
)

// This file: the site block: settings common to every node's configuration.

// commonConfig resolves what every node shares: site settings, checks,
// actions, notifiers, plugins.
func (b *builder) commonConfig() *config.Config {
	s := b.site
	c := &config.Config{File: b.path, Site: s.Name, CheckAdvertAddrs: *s.CheckAdvertAddrs, PluginUser: *s.PluginUser, PluginDir: *s.PluginDir}
	if s.StatusGroup != nil {
		c.StatusGroup = *s.StatusGroup
	}
	if s.MetricsListen != nil {
		c.MetricsListen = b.listenAddress(attrRange(s.Body, "metrics_listen", s.DefRange), *s.MetricsListen)
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
	b.group4 = b.multicastGroup(s.Body, "multicast_group4", *s.MulticastGroup4, false, s.DefRange)
	b.group6 = b.multicastGroup(s.Body, "multicast_group6", *s.MulticastGroup6, true, s.DefRange)
	for i := range b.raw.Plugins {
		c.Plugins = append(c.Plugins, b.plugin(&b.raw.Plugins[i]))
	}
	for i := range b.raw.Checks {
		c.Checks = append(c.Checks, b.check(&b.raw.Checks[i]))
	}
	for i := range b.raw.Actions {
		c.Actions = append(c.Actions, b.action(&b.raw.Actions[i]))
	}
	for _, n := range b.raw.Notifiers {
		b.pluginKind(n.Plugin, "notifier", n.Body, n.DefRange)
		for i, node := range n.Nodes {
			b.nodeName(node, elemRange(n.Body, "nodes", i, n.DefRange))
		}
		c.Notifiers = append(c.Notifiers, config.Notifier{Name: n.Name, Plugin: n.Plugin, Config: b.pluginConfig(n.Config)})
	}
	return c
}

// plugin resolves a plugin block.
func (b *builder) plugin(p *pluginBlock) config.Plugin {
	s := b.site
	pl := config.Plugin{Name: p.Name, Path: pluginPath(s, p), Args: p.Args, User: *s.PluginUser, PassEnv: p.PassEnv}
	if b.builtinBlock(p) {
		pl.Path = ""
	}
	if p.SHA256 != nil {
		pl.SHA256 = strings.ToLower(*p.SHA256)
	}
	if p.User != nil {
		pl.User = *p.User
	}
	if p.Group != nil {
		pl.Group = *p.Group
	}
	return pl
}

// check resolves and checks a check block.
func (b *builder) check(ck *checkBlock) config.Check {
	b.pluginKind(ck.Plugin, "check", ck.Body, ck.DefRange)
	out := config.Check{Name: ck.Name, Plugin: ck.Plugin, Weight: *ck.Weight, Reverse: *ck.Reverse, InitFail: *ck.InitFail, Rise: *ck.Rise, Fall: *ck.Fall, Config: b.pluginConfig(ck.Config)}
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
	if out.Weight < -priority.MaxWeight || out.Weight > priority.MaxWeight {
		b.err(attrRange(ck.Body, "weight", ck.DefRange), "Weight out of range", "weight = %d: weights run from -%d to %d (0 means a failing check puts the instance in FAULT).", out.Weight, priority.MaxWeight, priority.MaxWeight)
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
	return out
}

// action resolves and checks an action block.
func (b *builder) action(a *actionBlock) config.Action {
	b.pluginKind(a.Plugin, "action", a.Body, a.DefRange)
	out := config.Action{Name: a.Name, Plugin: a.Plugin, When: a.When, Retries: *a.Retries, Config: b.pluginConfig(a.Config)}
	out.Timeout, _ = b.duration(a.Body, "timeout", a.Timeout, a.DefRange)
	if _, ok := b.checks[a.When]; !ok {
		b.err(attrRange(a.Body, "when", a.DefRange), "Unknown check", "when = %q names no check block.%s", a.When, Suggest(a.When, keys(b.checks)))
	}
	if out.Retries < 0 {
		b.err(attrRange(a.Body, "retries", a.DefRange), "Invalid retries", "retries = %d: it must be 0 or more.", out.Retries)
	}
	for i, in := range a.Instances {
		if _, ok := b.instances[in]; !ok {
			b.err(elemRange(a.Body, "instances", i, a.DefRange), "Unknown instance", "%q names no instance block.%s", in, Suggest(in, keys(b.instances)))
		}
	}
	out.Instances = a.Instances // none: each node's instances that track when (checksPerNode)
	return out
}

func (b *builder) notifyNames(body hcl.Body, attr string, names []string, rng hcl.Range) {
	for i, n := range names {
		if _, ok := b.notifiers[n]; !ok {
			b.err(elemRange(body, attr, i, rng), "Unknown notifier", "%q names no notifier block.%s", n, Suggest(n, keys(b.notifiers)))
		}
	}
}

// listenAddress checks a listener's address: host:port, or a bare port,
// which means localhost (metrics are not for the whole network unless the
// policy says so).
func (b *builder) listenAddress(r hcl.Range, v string) string {
	if _, err := strconv.ParseUint(v, 10, 16); err == nil {
		v = net.JoinHostPort("127.0.0.1", v)
	}
	host, port, err := net.SplitHostPort(v)
	if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n == 0 {
		b.err(r, "Invalid listen address", "metrics_listen = %q: give host:port, like \"127.0.0.1:9650\", or a port alone for localhost.", v)
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		b.warn(r, "Metrics on every address", "metrics_listen = %q serves metrics to any host that can reach this node; name an address to limit it.", v)
	}
	return v
}

// multicastGroup reads a site's multicast group: a multicast address of
// its family; the RFC's group is the zero value (the engine's default).
func (b *builder) multicastGroup(body hcl.Body, name, v string, v6 bool, fallback hcl.Range) netip.Addr {
	a, err := netip.ParseAddr(v)
	switch {
	case err != nil || !a.IsMulticast() || a.Is6() != v6:
		want := "an IPv4 multicast address, like \"224.0.0.18\""
		if v6 {
			want = "an IPv6 multicast address, like \"ff02::12\""
		}
		b.err(attrRange(body, name, fallback), "Invalid multicast group", "%s = %q: it must be %s.", name, v, want)
		return netip.Addr{}
	case a == vrrp.GroupV4 || a == vrrp.GroupV6:
		return netip.Addr{}
	}
	return a
}
