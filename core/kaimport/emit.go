package kaimport

import (
	"cmp"
	"fmt"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// emitSite writes the site block from the first file's global_defs, and
// reports whether mail is to be imported.
func (c *converter) emitSite(body *hclwrite.Body, first *nodeConf, site bool) (mail bool) {
	name := "imported"
	if !site && first.routerID != "" {
		name = first.routerID
	}
	sb := body.AppendNewBlock("site", []string{name}).Body()
	body.AppendNewline()
	g := first.global
	if v := g["vrrp_version"]; len(v) > 0 {
		sb.SetAttributeValue("version", intVal(v[0]))
	}
	if v := g["vrrp_startup_delay"]; len(v) > 0 {
		sb.SetAttributeValue("startup_delay", cty.StringVal(seconds(v[0])))
	}
	if v := g["vrrp_garp_master_delay"]; len(v) > 0 {
		sb.SetAttributeValue("garp_master_delay", cty.StringVal(seconds(v[0])))
	}
	if v := g["vrrp_garp_master_repeat"]; len(v) > 0 {
		sb.SetAttributeValue("garp_master_repeat", intVal(v[0]))
	}
	if v := g["vrrp_garp_master_refresh"]; len(v) > 0 {
		sb.SetAttributeValue("garp_master_refresh", cty.StringVal(seconds(v[0])))
	}
	if v := g["vrrp_garp_interval"]; len(v) > 0 {
		sb.SetAttributeValue("garp_interval", cty.StringVal(seconds(v[0])))
	}
	if v := g["vrrp_gna_interval"]; len(v) > 0 {
		sb.SetAttributeValue("na_interval", cty.StringVal(seconds(v[0])))
	}
	if _, skip := g["vrrp_skip_check_adv_addr"]; !skip {
		sb.SetAttributeValue("check_advert_addrs", cty.True)
	}
	if v := g["vrrp_mcast_group4"]; len(v) > 0 {
		sb.SetAttributeValue("multicast_group4", cty.StringVal(v[0]))
	}
	if v := g["vrrp_mcast_group6"]; len(v) > 0 {
		sb.SetAttributeValue("multicast_group6", cty.StringVal(v[0]))
	}
	if _, strict := g["vrrp_strict"]; strict {
		sb.SetAttributeValue("strict", cty.True)
	}
	if !site && first.routerID != "" {
		sb.SetAttributeValue("router_id", cty.StringVal(first.routerID))
	}
	// Mail goes exactly where keepalived sends it: each instance and sync
	// group whose smtp_alert is on, its own or else the global default.
	all, some := true, false
	for _, in := range first.instances {
		on := first.alert(in.smtpAlert)
		all, some = all && on, some || on
	}
	for _, gname := range first.order {
		some = some || first.groupAlert(gname)
	}
	wanted := some
	mail = wanted && len(first.emails) > 0 && len(g["smtp_server"]) > 0
	// One site-wide notify when a global smtp_alert has every instance
	// mail.
	c.siteMail = mail && all && first.alert(nil)
	var siteNotify []string
	if c.siteMail {
		siteNotify = append(siteNotify, "mail")
	}
	for _, k := range []string{"notify_fifo", "vrrp_notify_fifo"} {
		if v := g[k]; len(v) > 0 {
			siteNotify = append(siteNotify, k)
		}
	}
	if len(siteNotify) > 0 {
		sb.SetAttributeValue("notify", strList(siteNotify))
	}
	switch {
	case mail:
	case wanted && !mail:
		at := first.globalAt["smtp_alert"]
		for _, in := range first.instances {
			if at == "" && first.alert(in.smtpAlert) {
				at = in.at
			}
		}
		for _, gname := range first.order {
			if at == "" && first.groupAlert(gname) {
				at = first.groupAt[gname]
			}
		}
		c.warnings = append(c.warnings, Warning{At: at, Msg: "smtp_alert is set but notification_email or smtp_server is missing: keepalived sends no mail, and no notifier is imported"})
	case !wanted && (len(first.emails) > 0 || len(g["smtp_server"]) > 0):
		at := first.globalAt["smtp_server"]
		if at == "" {
			at = first.globalAt["notification_email"]
		}
		c.warnings = append(c.warnings, Warning{At: at, Msg: "notification_email / smtp_server are not imported: no instance or sync group has smtp_alert, so keepalived sends no VRRP mail either"})
	}
	return mail
}

// emitNodes writes one node block per file of a site.
func (c *converter) emitNodes(body *hclwrite.Body, confs []*nodeConf) {
	for _, nc := range confs {
		nb := body.AppendNewBlock("node", []string{nc.name}).Body()
		body.AppendNewline()
		ifaces := map[string]bool{}
		src, srcAt := "", ""
		for _, in := range nc.instances {
			ifaces[in.iface] = true
			switch {
			case in.srcAddr == "" || in.srcAddr == src:
			case src == "":
				src, srcAt = in.srcAddr, in.at
			default:
				// Vigil has one address per node; an instance that sent
				// from another would now send from this one.
				c.warnings = append(c.warnings, Warning{At: in.at, Msg: fmt.Sprintf("%s sends from unicast_src_ip / mcast_src_ip %s, but %s (%s) sends from %s: a Vigil node has one address, so the node's address is %s and %s's adverts now come from it; its peers must accept that address", in.name, in.srcAddr, "the first instance", srcAt, src, src, in.name)})
			}
		}
		if len(ifaces) == 1 {
			for i := range ifaces {
				nb.SetAttributeValue("interface", cty.StringVal(i))
			}
		}
		if src != "" {
			nb.SetAttributeValue("address", cty.StringVal(src))
		}
		if nc.routerID != "" && nc.routerID != nc.name {
			nb.SetAttributeValue("router_id", cty.StringVal(nc.routerID))
		}
	}
}

// emitInstances writes the instances, in the first file's order, then any
// only others have, and returns the scripts they track.
func (c *converter) emitInstances(body *hclwrite.Body, confs []*nodeConf, site, mail bool) (usedScripts map[string]trackedScript) {
	var names []string
	byNode := map[string]map[string]*instance{}
	for _, nc := range confs {
		byNode[nc.name] = map[string]*instance{}
		for _, in := range nc.instances {
			byNode[nc.name][in.name] = in
			if !slices.Contains(names, in.name) {
				names = append(names, in.name)
			}
		}
	}
	usedScripts = map[string]trackedScript{}
	for _, name := range names {
		c.emitInstance(body, confs, byNode, name, site, mail && !c.siteMail, usedScripts)
	}
	return usedScripts
}

// trackedScript is a check the import writes: a vrrp_script, with the
// weight a track_script override gave it (nil: the script's own).
type trackedScript struct {
	script  string
	weight  *weighting
	at      string   // where an instance tracks it
	node    string   // the first node that tracks it: its definition is written
	nodes   []string // the nodes that track it, when the script differs per node
	renamed bool     // a weight override made it a check of its own
}

// nodeScripts is the scripts of node's file.
func nodeScripts(confs []*nodeConf, node string) map[string]*script {
	for _, nc := range confs {
		if nc.name == node {
			return nc.scripts
		}
	}
	return nil
}

// variant is the check a node's copy of script becomes: the script's name
// where every node defines it alike (or for the nodes whose definition is
// the first node's), else the name with the node's ("chk_lb02"), a check
// of its own restricted to the nodes that define it so (track_files often
// name a file per node). perNode reports whether the script differs.
func variant(confs []*nodeConf, script, node string) (name string, perNode bool) {
	def := func(nc *nodeConf) string {
		sc := nc.scripts[script]
		if sc == nil {
			return ""
		}
		cp := *sc
		cp.at, cp.weight, cp.rise, cp.fall, cp.init = "", nil, nil, nil, nil // where, and pointers: compared by value
		return fmt.Sprintf("%+v %v %v %v %v", cp, deref(sc.weight), deref(sc.rise), deref(sc.fall), deref(sc.init))
	}
	first := map[string]string{} // definition -> first node with it
	var mine string
	for _, nc := range confs {
		d := def(nc)
		if d == "" {
			continue
		}
		if _, ok := first[d]; !ok {
			first[d] = nc.name
		}
		if nc.name == node {
			mine = d
		}
	}
	if len(first) <= 1 {
		return script, false
	}
	if owner := first[mine]; owner != firstWith(confs, script) {
		return script + "_" + owner, true
	}
	return script, true
}

func firstWith(confs []*nodeConf, script string) string {
	for _, nc := range confs {
		if nc.scripts[script] != nil {
			return nc.name
		}
	}
	return ""
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// checkName is the check an instance's track of script becomes: the
// script's name, or, when the instance overrides the script's weight,
// a check of its own with that weight ("chk_w10", "chk_wm10",
// "chk_w10_reverse").
func checkName(script string, override *weighting, scripts map[string]*script) string {
	if override == nil {
		return script
	}
	sc := scripts[script]
	if sc != nil && sc.weight != nil && *sc.weight == override.w && sc.reverse == override.reverse {
		return script
	}
	name := script + "_w" + strings.Replace(fmt.Sprint(override.w), "-", "m", 1)
	if override.reverse {
		name += "_reverse"
	}
	return name
}

// emitInstance writes one instance, merged from every file that has it.
func (c *converter) emitInstance(body *hclwrite.Body, confs []*nodeConf, byNode map[string]map[string]*instance, name string, site, mail bool, usedScripts map[string]trackedScript) {
	var ref *instance
	prios := map[string]int{}
	var order []string
	for _, nc := range confs {
		if in := byNode[nc.name][name]; in != nil {
			if ref == nil {
				ref = in
			} else {
				c.compare(ref, in, nc.name)
			}
			prios[nc.name] = in.prio
			order = append(order, nc.name)
		}
	}
	ib := body.AppendNewBlock("instance", []string{name}).Body()
	body.AppendNewline()
	ib.SetAttributeValue("vrid", cty.NumberIntVal(int64(ref.vrid)))
	if !site || !c.nodeIfaces(confs, ref.iface) {
		ib.SetAttributeValue("interface", cty.StringVal(ref.iface))
	}
	if ref.version != 0 {
		ib.SetAttributeValue("version", cty.NumberIntVal(int64(ref.version)))
	}
	if ref.advert != "" {
		ib.SetAttributeValue("advert_interval", cty.StringVal(ref.advert))
	}
	vipBlocks := c.vips(ib, "vips", ref.vips, ref.at)
	c.vips(ib, "excluded_vips", ref.excluded, ref.at)
	if site {
		ib.SetAttributeRaw("priority", nodeMap(order, func(n string) cty.Value { return cty.NumberIntVal(int64(prios[n])) }))
	} else {
		ib.SetAttributeValue("priority", cty.NumberIntVal(int64(ref.prio)))
	}
	emitPreempt(ib, byNode, order, name)
	if ref.strict != nil {
		ib.SetAttributeValue("strict", cty.BoolVal(*ref.strict))
	}
	if ref.accept != nil {
		ib.SetAttributeValue("accept", cty.BoolVal(*ref.accept))
	}
	if ref.useVMAC {
		ib.SetAttributeValue("use_vmac", cty.True)
		if ref.vmacName != "" {
			ib.SetAttributeValue("vmac_interface", cty.StringVal(ref.vmacName))
		}
		if ref.vmacXmitBase {
			ib.SetAttributeValue("vmac_xmit_base", cty.True)
		}
	}
	if ref.preemptDelay != "" {
		ib.SetAttributeValue("preempt_delay", cty.StringVal(ref.preemptDelay))
	}
	if !site && ref.srcAddr != "" {
		ib.SetAttributeValue("source_address", cty.StringVal(ref.srcAddr))
	}
	if len(ref.unicastPeers) > 0 {
		if site {
			ib.SetAttributeValue("unicast", cty.True)
		} else {
			ib.SetAttributeValue("unicast_peers", strList(ref.unicastPeers))
		}
		c.emitPeerTTL(ib, ref)
	}
	emitTracks(ib, confs, byNode, order, name, usedScripts)
	c.emitPriorityNotes(ib, confs, byNode, name)
	var notify []string
	if mail && confs[0].alert(ref.smtpAlert) {
		notify = append(notify, "mail")
	}
	notify = append(notify, c.instanceNotifiers(byNode, order, name)...)
	if len(notify) > 0 {
		ib.SetAttributeValue("notify", strList(notify))
	}
	if ref.garpDelay != "" {
		ib.SetAttributeValue("garp_master_delay", cty.StringVal(ref.garpDelay))
	}
	if ref.garpRepeat != "" {
		ib.SetAttributeValue("garp_master_repeat", intVal(ref.garpRepeat))
	}
	if ref.garpRefresh != "" {
		ib.SetAttributeValue("garp_master_refresh", cty.StringVal(ref.garpRefresh))
	}
	if ref.dontTrackPrimary {
		ib.SetAttributeValue("track_own_interface", cty.False)
	}
	emitBlocks(ib, ref, vipBlocks)
	emitRouting(ib, ref)
	for _, t := range ref.trackIfs {
		ib.AppendNewline()
		tb := ib.AppendNewBlock("track_interface", nil).Body()
		tb.SetAttributeValue("name", cty.StringVal(t))
		if w, ok := ref.trackIfWeights[t]; ok {
			tb.SetAttributeValue("weight", cty.NumberIntVal(int64(w.w)))
			if w.reverse {
				tb.SetAttributeValue("reverse", cty.True)
			}
		}
	}
}

// emitSyncGroups writes the first file's sync groups, with each node's
// notify scripts.
func (c *converter) emitSyncGroups(body *hclwrite.Body, confs []*nodeConf, mail bool) {
	first := confs[0]
	for _, gname := range first.order {
		gb := body.AppendNewBlock("sync_group", []string{gname}).Body()
		body.AppendNewline()
		gb.SetAttributeValue("instances", strList(first.groups[gname]))
		var notify []string
		if mail && first.groupAlert(gname) {
			notify = append(notify, "mail")
		}
		var sets []nodeScriptSet
		for _, nc := range confs {
			if _, ok := nc.groups[gname]; ok {
				sets = append(sets, nodeScriptSet{node: nc.name, scripts: nc.groupNotify[gname], at: nc.groupAt[gname]})
			}
		}
		notify = append(notify, c.notifiersFor("notify_group_"+gname, sets)...)
		if len(notify) > 0 {
			gb.SetAttributeValue("notify", strList(notify))
		}
	}
}

// emitChecks writes a check for every script an instance tracks, from the
// first node that has it.
func (c *converter) emitChecks(body *hclwrite.Body, confs []*nodeConf, usedScripts map[string]trackedScript) {
	var names []string
	for n := range usedScripts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		ts := usedScripts[n]
		sc := nodeScripts(confs, ts.node)[ts.script]
		if sc == nil {
			c.warnings = append(c.warnings, Warning{At: ts.at, Msg: fmt.Sprintf("track_script %s names no vrrp_script this node uses: the instance's track refers to a check that does not exist, and the policy will not validate until one is written", ts.script)})
			continue
		}
		if len(ts.nodes) > 0 {
			cp := *sc
			cp.name, cp.nodes = n, ts.nodes
			sc = &cp
		}
		if ts.weight != nil {
			w := *ts.weight
			own := *sc
			own.name, own.weight, own.reverse = n, &w.w, w.reverse
			if ts.renamed {
				c.warnings = append(c.warnings, Warning{At: ts.at, Msg: fmt.Sprintf("track_script %s weight %d%s: imported as check %s, the same script with that weight (Vigil's weights belong to checks)", ts.script, w.w, map[bool]string{true: " reverse"}[w.reverse], n)})
			}
			sc = &own
		}
		c.checkBlock(body, sc)
	}
}

// emitTail writes the mail notifier, the plugin user and the plugin
// blocks the import needs.
func (c *converter) emitTail(body *hclwrite.Body, first *nodeConf, mail bool) {
	g := first.global
	sb := body.Blocks()[0].Body() // the site block
	if mail {
		nb := body.AppendNewBlock("notifier", []string{"mail"}).Body()
		body.AppendNewline()
		nb.SetAttributeValue("plugin", cty.StringVal("smtp-notify"))
		nb.AppendNewline()
		cfg := nb.AppendNewBlock("config", nil).Body()
		cfg.SetAttributeValue("server", cty.StringVal(strings.Join(g["smtp_server"], ":")))
		if v := g["smtp_connect_timeout"]; len(v) > 0 {
			cfg.SetAttributeValue("connect_timeout", cty.StringVal(seconds(v[0])))
		}
		from := "keepalived@localhost"
		if v := g["notification_email_from"]; len(v) > 0 {
			from = v[0]
		}
		cfg.SetAttributeValue("from", cty.StringVal(from))
		cfg.SetAttributeValue("to", strList(first.emails))
	}
	for _, k := range []string{"notify_fifo", "vrrp_notify_fifo"} {
		if v := g[k]; len(v) > 0 {
			nb := body.AppendNewBlock("notifier", []string{k}).Body()
			body.AppendNewline()
			nb.SetAttributeValue("plugin", cty.StringVal("exec-notify"))
			nb.AppendNewline()
			nb.AppendNewBlock("config", nil).Body().SetAttributeValue("fifo", cty.StringVal(v[0]))
			if len(v) > 1 {
				c.warnings = append(c.warnings, Warning{At: first.globalAt[k], Msg: k + "'s script (" + strings.Join(v[1:], " ") + ") is not imported: the FIFO's reader is started by whoever reads it, not by Vigil"})
			}
		}
	}
	for _, in := range c.notifyScripts {
		nb := body.AppendNewBlock("notifier", []string{in.notifier}).Body()
		body.AppendNewline()
		nb.SetAttributeValue("plugin", cty.StringVal("exec-notify"))
		if len(in.nodes) > 0 && in.nodes[0] != "" {
			nb.SetAttributeValue("nodes", strList(in.nodes))
		}
		nb.AppendNewline()
		cfg := nb.AppendNewBlock("config", nil).Body()
		for _, k := range []struct{ ka, attr string }{{"notify_master", "master"}, {"notify_backup", "backup"}, {"notify_fault", "fault"}, {"notify_stop", "stop"}} {
			if script, ok := in.scripts[k.ka]; ok {
				cfg.SetAttributeValue(k.attr, strList([]string{"/bin/sh", "-c", script.command}))
			}
		}
		if script, ok := in.scripts["notify"]; ok {
			// keepalived appends INSTANCE|GROUP name state priority: "$@" passes
			// them to the script through the shell.
			cfg.SetAttributeValue("command", strList([]string{"/bin/sh", "-c", script.command + ` "$@"`, "notify"}))
		}
		if c.scriptSecurity {
			cfg.SetAttributeValue("script_security", cty.True)
		}
	}
	c.scriptUser(body, sb, first)
	if c.needsRootAction {
		pb := body.AppendNewBlock("plugin", []string{"nginx-action"}).Body()
		body.AppendNewline()
		pb.SetAttributeValue("user", cty.StringVal("root")) // it starts nginx
	}
}

// notifyKeywords are keepalived's notify scripts, in a fixed order.
var notifyKeywords = []string{"notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"}

// intVal is keepalived's number as a Vigil number; a value that is not one
// is carried over as written (a string), so that validating the result
// refuses it at its line instead of the import turning it into 0.
func intVal(s string) cty.Value {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return cty.NumberIntVal(int64(n))
	}
	return cty.StringVal(s)
}

// nodeMap writes a map of node name to value on one line, as people write
// it: { lb01 = 100, lb02 = 60 }.
func nodeMap(order []string, value func(node string) cty.Value) hclwrite.Tokens {
	toks := hclwrite.Tokens{{Type: hclsyntax.TokenOBrace, Bytes: []byte("{")}}
	for i, n := range order {
		if i > 0 {
			toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenComma, Bytes: []byte(",")})
		}
		toks = append(toks, hclwrite.TokensForIdentifier(n)...)
		toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenEqual, Bytes: []byte("=")})
		toks = append(toks, hclwrite.TokensForValue(value(n))...)
	}
	return append(toks, &hclwrite.Token{Type: hclsyntax.TokenCBrace, Bytes: []byte("}")})
}

func strList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vs := make([]cty.Value, len(ss))
	for i, s := range ss {
		vs[i] = cty.StringVal(s)
	}
	return cty.ListVal(vs)
}

// nodeIfaces reports whether every node block carries iface as its
// interface (so the instance need not).
func (c *converter) nodeIfaces(confs []*nodeConf, iface string) bool {
	for _, nc := range confs {
		for _, in := range nc.instances {
			if in.iface != iface {
				return false
			}
		}
	}
	return true
}

// vips writes plain addresses as a list attribute; addresses with a
// device, label or scope are returned, to be written as vip blocks after
// the instance's attributes.
func (c *converter) vips(b *hclwrite.Body, attr string, vs []vip, at string) (blocks []vip) {
	if len(vs) == 0 {
		return nil
	}
	plain := true
	for _, v := range vs {
		plain = plain && v.dev == "" && v.label == "" && v.scope == ""
	}
	if !plain && attr == "vips" {
		return vs
	}
	if !plain {
		c.warnings = append(c.warnings, Warning{At: at, Msg: "virtual_ipaddress_excluded options (dev, label, scope) are not imported: the excluded addresses go on the instance's interface, unlabelled"})
	}
	var addrs []string
	for _, v := range vs {
		addrs = append(addrs, v.addr)
	}
	b.SetAttributeValue(attr, strList(addrs))
	return nil
}

// compare warns where a node's copy of an instance differs from the first
// node's in more than its priority: a site has one definition.
func (c *converter) compare(ref, in *instance, node string) {
	diff := func(what, a, b string) {
		if a != b {
			c.warnings = append(c.warnings, Warning{At: in.at, Msg: fmt.Sprintf("%s on %s has %s %q, the first node %q; the policy keeps the first", in.name, node, what, b, a)})
		}
	}
	diff("virtual_router_id", fmt.Sprint(ref.vrid), fmt.Sprint(in.vrid))
	diff("advert_int", ref.advert, in.advert)
	diff("auth_pass", ref.authPass, in.authPass)
	if !sameHMAC(ref.hmac, in.hmac) {
		// No values: they are keys.
		c.warnings = append(c.warnings, Warning{At: in.at, Msg: fmt.Sprintf("%s on %s has another auth_hmac (keys, active_key, mode, anti_replay or time_window) than the first node; the policy keeps the first, for every node. Mid-rollout? Import once every node runs the same step (docs/migrating.md)", in.name, node)})
	}
	diff("virtual_ipaddress", fmt.Sprint(ref.vips), fmt.Sprint(in.vips))
	diff("virtual_routes", fmt.Sprint(ref.routes), fmt.Sprint(in.routes))
	diff("virtual_rules", fmt.Sprint(ref.rules), fmt.Sprint(in.rules))
}

// NodeName is the node name for a file given without one: its router_id,
// else the file's base name.
func NodeName(path string) string {
	id := ""
	if stmts, err := Parse(path); err == nil {
		for _, s := range stmts {
			if s.Key == "global_defs" {
				for _, g := range s.Block {
					if g.Key == "router_id" && g.Arg(0) != "" {
						id = g.Arg(0) // the last one counts, as in keepalived
					}
				}
			}
		}
	}
	if id != "" {
		return id
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// UserExists reports whether a local user exists; the import asks it of
// keepalived_script, as keepalived does on the node it runs on. Tests set
// it.
var UserExists = func(name string) bool { _, err := user.Lookup(name); return err == nil }

// runAs is a script's user and group ("" for the user's own).
type runAs struct{ user, group string }

func (r runAs) String() string {
	if r.group == "" {
		return r.user
	}
	return r.user + ":" + r.group
}

// scriptUser carries keepalived's rule for who runs scripts (its
// lib/notify.c): a vrrp_script's user [group], else global script_user
// [group], else the user keepalived_script if it exists, else root. The
// exec checks run as that user (the built-in exec plugin's user); the
// site's plugin_user stays for the other plugins. Vigil runs every exec
// check as one user: where keepalived's scripts run as several, the import
// takes, the same every run, the first in file order that is not root,
// and says so.
func (c *converter) scriptUser(body, site *hclwrite.Body, first *nodeConf) {
	global, explicit := runAs{user: "root"}, false
	if v := first.global["script_user"]; len(v) > 0 {
		global, explicit = runAs{v[0], ""}, true
		if len(v) > 1 {
			global.group = v[1]
		}
	} else if UserExists("keepalived_script") {
		global = runAs{user: "keepalived_script"}
	}
	var order []runAs
	seen := map[runAs]bool{}
	var at string
	add := func(r runAs, where string) {
		if !seen[r] {
			seen[r] = true
			order = append(order, r)
		}
		if at == "" {
			at = where
		}
	}
	for _, sc := range c.execScripts {
		r := global
		if sc.user != "" {
			r = runAs{sc.user, sc.group}
		}
		add(r, sc.at)
	}
	for _, ns := range c.notifyScripts {
		for _, k := range notifyKeywords {
			if sc, ok := ns.scripts[k]; ok {
				r := global
				if sc.as.user != "" {
					r = sc.as
				}
				add(r, sc.at)
			}
		}
	}
	if len(order) == 0 {
		if explicit && global.user != "root" {
			site.SetAttributeValue("plugin_user", cty.StringVal(global.user))
		}
		return
	}
	chosen := order[0]
	for _, r := range order {
		if r.user != "root" {
			chosen = r
			break
		}
	}
	if len(order) > 1 {
		var all []string
		for _, r := range order {
			all = append(all, r.String())
		}
		c.warnings = append(c.warnings, Warning{At: at, Msg: "keepalived runs these scripts as different users (" + strings.Join(all, ", ") + "); Vigil runs every exec check as one user: imported as " + chosen.String() + ", the first that is not root; check the others can run as it"})
	}
	switch {
	case chosen.user == "root":
		msg := "keepalived runs these scripts as root (no script_user, and no keepalived_script user on this machine): imported with the exec and exec-notify plugins as root, which needs the agent to run as root (docs/operating.md); set their plugin blocks' user to an unprivileged user if the scripts allow"
		if !c.scriptSecurity {
			msg += "; keepalived warns of this (\"SECURITY VIOLATION - scripts are being executed but script_security not enabled\"): set script_security = true in their config blocks to refuse scripts a non-root user could change"
		}
		c.warnings = append(c.warnings, Warning{At: at, Msg: msg})
	case !explicit && chosen == global:
		c.warnings = append(c.warnings, Warning{At: at, Msg: "keepalived runs these scripts as keepalived_script (no script_user; that user exists on this machine): imported as keepalived_script; create it on every node"})
	}
	for _, name := range []string{"exec", "exec-notify"} {
		if (name == "exec" && len(c.execScripts) == 0) || (name == "exec-notify" && len(c.notifyScripts) == 0) {
			continue
		}
		pb := body.AppendNewBlock("plugin", []string{name}).Body()
		body.AppendNewline()
		pb.SetAttributeValue("user", cty.StringVal(chosen.user))
		if chosen.group != "" {
			pb.SetAttributeValue("group", cty.StringVal(chosen.group))
		}
	}
}

// emitPeerTTL writes the TTL range unicast adverts may arrive with.
// keepalived checks a unicast advert's source and TTL only when a peer
// has min_ttl / max_ttl (or vrrp_check_unicast_src is on), each peer its
// own range; Vigil always checks the source, with one range per instance.
func (c *converter) emitPeerTTL(ib *hclwrite.Body, in *instance) {
	lo, hi, given := 255, 0, false
	for i := range in.minTTL {
		if in.minTTL[i] != 0 || in.maxTTL[i] != 255 {
			given = true
		}
		lo, hi = min(lo, in.minTTL[i]), max(hi, in.maxTTL[i])
	}
	if !given && len(in.unicastPeers) > 0 && strings.Contains(in.unicastPeers[0], ":") {
		// keepalived sets IPv6's multicast hop limit only: its unicast
		// adverts leave at the kernel's default, 64.
		c.warnAt(in.peersAt, "%s: IPv6 unicast_peer without min_ttl: keepalived sends IPv6 unicast adverts with hop limit 64 (the kernel's default; it sets 255 for multicast only) and takes any; imported with unicast_min_ttl = 64 so that this node hears keepalived nodes while the site migrates. Vigil sends 255: once every node runs Vigil, remove it", in.name)
		ib.SetAttributeValue("unicast_min_ttl", cty.NumberIntVal(64))
		return
	}
	if !given {
		c.warnAt(in.peersAt, "%s: unicast_peer without min_ttl: keepalived takes unicast adverts with any TTL; Vigil takes them with TTL 255 only (sent on-link) and from the listed peers: for peers behind a router set unicast_min_ttl", in.name)
		return
	}
	if slices.Min(in.minTTL) != slices.Max(in.minTTL) || slices.Min(in.maxTTL) != slices.Max(in.maxTTL) {
		c.warnAt(in.peersAt, "%s: unicast peers with different min_ttl / max_ttl: Vigil has one range per instance; imported as the widest, %d to %d", in.name, max(lo, 1), hi)
	}
	ib.SetAttributeValue("unicast_min_ttl", cty.NumberIntVal(int64(max(lo, 1))))
	if hi != 255 {
		ib.SetAttributeValue("unicast_max_ttl", cty.NumberIntVal(int64(hi)))
	}
}

// instanceNotifiers makes the exec-notify notifiers of an instance's
// notify scripts: one for the nodes that share a set of scripts, limited
// to them (keepalived sites often run a different script on each node).
func (c *converter) instanceNotifiers(byNode map[string]map[string]*instance, order []string, name string) []string {
	var sets []nodeScriptSet
	for _, n := range order {
		in := byNode[n][name]
		sets = append(sets, nodeScriptSet{node: n, scripts: in.notify, at: in.at})
	}
	return c.notifiersFor("notify_"+name, sets)
}

// nodeScriptSet is one node's notify scripts of an instance or group.
type nodeScriptSet struct {
	node    string
	scripts map[string]notifyScript
	at      string
}

// notifiersFor makes the exec-notify notifiers named base (base_NODE for
// the second set and after) for each set of scripts, each limited to the
// nodes that have it, or for every node when they all do.
func (c *converter) notifiersFor(base string, sets []nodeScriptSet) []string {
	var names []string
	bySet := map[string]int{} // the scripts, printed -> index in c.notifyScripts
	for _, ns := range sets {
		if len(ns.scripts) == 0 {
			continue
		}
		set := ""
		for _, k := range notifyKeywords {
			if sc, ok := ns.scripts[k]; ok {
				set += fmt.Sprintf("%s %q %v\n", k, sc.command, sc.as) // where it is written does not count
			}
		}
		if i, ok := bySet[set]; ok {
			c.notifyScripts[i].nodes = append(c.notifyScripts[i].nodes, ns.node)
			continue
		}
		notifier := base
		if len(names) > 0 {
			notifier += "_" + ns.node
		}
		bySet[set] = len(c.notifyScripts)
		c.notifyScripts = append(c.notifyScripts, notifyScripts{notifier: notifier, at: ns.at, scripts: ns.scripts, nodes: []string{ns.node}})
		names = append(names, notifier)
	}
	for _, i := range bySet {
		if len(c.notifyScripts[i].nodes) == len(sets) {
			c.notifyScripts[i].nodes = nil // every node
		}
	}
	return names
}

// emitPreempt writes preempt per node: keepalived clears nopreempt where
// state is MASTER, so a site's nodes often differ.
func emitPreempt(ib *hclwrite.Body, byNode map[string]map[string]*instance, order []string, name string) {
	var without []string
	for _, n := range order {
		if byNode[n][name].nopreempt {
			without = append(without, n)
		}
	}
	switch {
	case len(without) == 0:
	case len(without) == len(order):
		ib.SetAttributeValue("preempt", cty.False)
	default:
		ib.SetAttributeRaw("preempt", nodeMap(without, func(string) cty.Value { return cty.False }))
	}
}

// emitTracks writes each node's tracked checks (keepalived sites often
// track a script only in the instance a node is master of, so they may
// differ) and records the checks to write.
func emitTracks(ib *hclwrite.Body, confs []*nodeConf, byNode map[string]map[string]*instance, order []string, name string, usedScripts map[string]trackedScript) {
	trackNames := map[string][]string{}
	same := true
	for _, n := range order {
		in := byNode[n][name]
		names := []string{}
		for _, t := range in.tracks {
			var override *weighting
			if w, ok := in.trackWeights[t]; ok {
				w = w.of(nodeScripts(confs, n)[t])
				override = &w
			}
			base, perNode := variant(confs, t, n)
			cn := base + strings.TrimPrefix(checkName(t, override, nodeScripts(confs, n)), t)
			names = append(names, cn)
			ts, done := usedScripts[cn]
			if !done {
				ts = trackedScript{script: t, weight: override, at: in.trackAt[t], node: n, renamed: checkName(t, override, nodeScripts(confs, n)) != t}
			}
			if perNode {
				ts.nodes = append(ts.nodes, n)
			}
			usedScripts[cn] = ts
		}
		trackNames[n] = names
		same = same && slices.Equal(names, trackNames[order[0]])
	}
	switch {
	case same && len(trackNames[order[0]]) > 0:
		ib.SetAttributeValue("track", strList(trackNames[order[0]]))
	case !same:
		ib.SetAttributeRaw("track", nodeMap(order, func(n string) cty.Value { return strList(trackNames[n]) }))
	}
}

// emitBlocks writes an instance's vip and auth blocks.
func emitBlocks(ib *hclwrite.Body, ref *instance, vipBlocks []vip) {
	for _, v := range vipBlocks {
		ib.AppendNewline()
		vb := ib.AppendNewBlock("vip", nil).Body()
		vb.SetAttributeValue("address", cty.StringVal(v.addr))
		if v.label != "" {
			vb.SetAttributeValue("label", cty.StringVal(v.label))
		}
		if v.scope != "" {
			vb.SetAttributeValue("scope", cty.StringVal(v.scope))
		}
		if v.dev != "" {
			vb.SetAttributeValue("interface", cty.StringVal(v.dev))
		}
	}
	if ref.authType != "" {
		ib.AppendNewline()
		ab := ib.AppendNewBlock("auth", nil).Body()
		ab.SetAttributeValue("type", cty.StringVal(ref.authType))
		if ref.authPass != "" {
			ab.SetAttributeValue("password", cty.StringVal(ref.authPass))
		}
	}
	if ref.hmac != nil {
		emitHMAC(ib, ref.hmac)
	}
}

// emitPriorityNotes writes notify_priority_changes when the instance tells
// of them on every node; where nodes differ, Vigil's one setting cannot say
// so, and the import says which it took.
func (c *converter) emitPriorityNotes(ib *hclwrite.Body, confs []*nodeConf, byNode map[string]map[string]*instance, name string) {
	on := map[bool][]string{}
	var at string
	for _, nc := range confs {
		if in := byNode[nc.name][name]; in != nil {
			v := nc.priorityNotes(in)
			on[v] = append(on[v], nc.name)
			at = in.at
		}
	}
	if len(on[true]) == 0 {
		return
	}
	ib.SetAttributeValue("notify_priority_changes", cty.True)
	if len(on[false]) > 0 {
		c.warnings = append(c.warnings, Warning{At: at, Msg: fmt.Sprintf("%s: notify_priority_changes is on for %s and off for %s; imported on for every node (a priority change is one FIFO line)",
			name, strings.Join(on[true], ", "), strings.Join(on[false], ", "))})
	}
}

// emitStatics writes the nodes' static addresses, routes and rules: one
// block for every node when they are the same everywhere, else one per
// node.
func (c *converter) emitStatics(body *hclwrite.Body, confs []*nodeConf, site bool) {
	same := true
	for _, nc := range confs[1:] {
		same = same && reflect.DeepEqual(nc.static.addrs, confs[0].static.addrs) &&
			reflect.DeepEqual(nc.static.routes, confs[0].static.routes) && reflect.DeepEqual(nc.static.rules, confs[0].static.rules)
	}
	for i, nc := range confs {
		st := nc.static
		if len(st.addrs)+len(st.routes)+len(st.rules) == 0 || same && i > 0 {
			continue
		}
		sb := body.AppendNewBlock("static", nil).Body()
		body.AppendNewline()
		if site && !same {
			sb.SetAttributeValue("nodes", strList([]string{nc.name}))
		}
		for _, a := range st.addrs {
			ab := sb.AppendNewBlock("address", nil).Body()
			ab.SetAttributeValue("address", cty.StringVal(a.addr))
			// keepalived puts an address without dev on its default interface.
			ab.SetAttributeValue("interface", cty.StringVal(cmp.Or(a.dev, nc.defaultIf, "eth0")))
			if a.scope != "" {
				ab.SetAttributeValue("scope", cty.StringVal(a.scope))
			}
			if a.label != "" {
				ab.SetAttributeValue("label", cty.StringVal(a.label))
			}
		}
		emitRoutes(sb, st.routes, st.rules)
	}
}
