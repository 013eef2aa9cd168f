package kaimport

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Convert reads each node's keepalived configuration and returns the
// policy. With one Node whose Name is "", the policy is a per-node file in
// keepalived's shape; otherwise a site with one node block per Node.
func Convert(nodes []Node) ([]byte, []Warning, error) {
	c := &converter{}
	var confs []*nodeConf
	for _, n := range nodes {
		nc, err := c.read(n)
		if err != nil {
			return nil, nil, err
		}
		confs = append(confs, nc)
	}
	if len(confs) == 0 {
		return nil, nil, fmt.Errorf("no keepalived configuration given")
	}
	site := len(confs) > 1 || confs[0].name != ""
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	first := confs[0]

	mail := c.emitSite(body, first, site)
	if site {
		c.emitNodes(body, confs)
	}
	usedScripts := c.emitInstances(body, confs, site)
	emitSyncGroups(body, first)
	c.emitChecks(body, confs, usedScripts)
	c.emitTail(body, first, mail)
	return append(bytes.TrimRight(hclwrite.Format(f.Bytes()), "\n"), '\n'), c.warnings, nil
}

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
	if !site && first.routerID != "" {
		sb.SetAttributeValue("router_id", cty.StringVal(first.routerID))
	}
	mail = len(first.emails) > 0 && len(g["smtp_server"]) > 0 && slices.ContainsFunc(first.instances, func(in *instance) bool { return in.smtpAlert })
	if mail {
		sb.SetAttributeValue("notify", cty.ListVal([]cty.Value{cty.StringVal("mail")}))
	}

	return mail
}

// emitNodes writes one node block per file of a site.
func (c *converter) emitNodes(body *hclwrite.Body, confs []*nodeConf) {
	for _, nc := range confs {
		nb := body.AppendNewBlock("node", []string{nc.name}).Body()
		body.AppendNewline()
		ifaces := map[string]bool{}
		src := ""
		for _, in := range nc.instances {
			ifaces[in.iface] = true
			if in.unicastSrc != "" {
				src = in.unicastSrc
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
func (c *converter) emitInstances(body *hclwrite.Body, confs []*nodeConf, site bool) (usedScripts map[string]bool) {
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
	usedScripts = map[string]bool{}
	for _, name := range names {
		c.emitInstance(body, confs, byNode, name, site, usedScripts)
	}
	return usedScripts
}

// emitInstance writes one instance, merged from every file that has it.
func (c *converter) emitInstance(body *hclwrite.Body, confs []*nodeConf, byNode map[string]map[string]*instance, name string, site bool, usedScripts map[string]bool) {
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
	vipBlocks := c.vips(ib, "vips", ref.vips)
	c.vips(ib, "excluded_vips", ref.excluded)
	if site {
		// One line, as people write it: { lb01 = 100, lb02 = 60 }.
		toks := hclwrite.Tokens{{Type: hclsyntax.TokenOBrace, Bytes: []byte("{")}}
		for i, n := range order {
			if i > 0 {
				toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenComma, Bytes: []byte(",")})
			}
			toks = append(toks, hclwrite.TokensForIdentifier(n)...)
			toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenEqual, Bytes: []byte("=")})
			toks = append(toks, hclwrite.TokensForValue(cty.NumberIntVal(int64(prios[n])))...)
		}
		toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenCBrace, Bytes: []byte("}")})
		ib.SetAttributeRaw("priority", toks)
	} else {
		ib.SetAttributeValue("priority", cty.NumberIntVal(int64(ref.prio)))
	}
	if ref.nopreempt {
		ib.SetAttributeValue("preempt", cty.False)
	}
	if ref.preemptDelay != "" {
		ib.SetAttributeValue("preempt_delay", cty.StringVal(ref.preemptDelay))
	}
	if len(ref.unicastPeers) > 0 {
		if site {
			ib.SetAttributeValue("unicast", cty.True)
		} else {
			ib.SetAttributeValue("unicast_peers", strList(ref.unicastPeers))
			if ref.unicastSrc != "" {
				c.warnings = append(c.warnings, Warning{At: ref.at, Msg: "unicast_src_ip is not imported in a per-node file: adverts go from the interface's first address (import one file per node with --node for a site with node addresses)"})
			}
		}
	}
	if len(ref.tracks) > 0 {
		ib.SetAttributeValue("track", strList(ref.tracks))
		for _, t := range ref.tracks {
			usedScripts[t] = true
		}
	}
	if ref.garpDelay != "" {
		ib.SetAttributeValue("garp_master_delay", cty.StringVal(ref.garpDelay))
	}
	if ref.garpRepeat != "" {
		ib.SetAttributeValue("garp_master_repeat", intVal(ref.garpRepeat))
	}
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
	for _, t := range ref.trackIfs {
		ib.AppendNewline()
		tb := ib.AppendNewBlock("track_interface", nil).Body()
		tb.SetAttributeValue("name", cty.StringVal(t))
		if w, ok := ref.trackIfWeights[t]; ok {
			tb.SetAttributeValue("weight", cty.NumberIntVal(int64(w)))
		}
	}
}

// emitSyncGroups writes the first file's sync groups.
func emitSyncGroups(body *hclwrite.Body, first *nodeConf) {
	for _, gname := range first.order {
		gb := body.AppendNewBlock("sync_group", []string{gname}).Body()
		body.AppendNewline()
		gb.SetAttributeValue("instances", strList(first.groups[gname]))
	}
}

// emitChecks writes a check for every script an instance tracks, from the
// first node that has it.
func (c *converter) emitChecks(body *hclwrite.Body, confs []*nodeConf, usedScripts map[string]bool) {
	first := confs[0]
	var scripts []string
	for n := range usedScripts {
		scripts = append(scripts, n)
	}
	slices.Sort(scripts)
	for _, n := range scripts {
		var sc *script
		for _, nc := range confs {
			if s := nc.scripts[n]; s != nil {
				if sc == nil {
					sc = s
				} else if s.command != sc.command || s.interval != sc.interval {
					c.warnings = append(c.warnings, Warning{At: s.at, Msg: fmt.Sprintf("vrrp_script %s differs from %s's; imported from the first", n, sc.at)})
				}
			}
		}
		if sc == nil {
			c.warnings = append(c.warnings, Warning{At: first.name, Msg: fmt.Sprintf("track_script %s names no vrrp_script", n)})
			continue
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
	if v := g["script_user"]; len(v) > 0 {
		sb.SetAttributeValue("plugin_user", cty.StringVal(v[0]))
	}
	if c.needsRootAction {
		pb := body.AppendNewBlock("plugin", []string{"nginx-action"}).Body()
		body.AppendNewline()
		pb.SetAttributeValue("user", cty.StringVal("root")) // it starts nginx
	}
}

// intVal is keepalived's number as a Vigil number; a value that is not one
// is carried over as written (a string), so that validating the result
// refuses it at its line instead of the import turning it into 0.
func intVal(s string) cty.Value {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return cty.NumberIntVal(int64(n))
	}
	return cty.StringVal(s)
}

func strList(ss []string) cty.Value {
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
func (c *converter) vips(b *hclwrite.Body, attr string, vs []vip) (blocks []vip) {
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
		c.warnings = append(c.warnings, Warning{At: attr, Msg: "virtual_ipaddress_excluded options (dev, label, scope) are not imported"})
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
	diff("virtual_ipaddress", fmt.Sprint(ref.vips), fmt.Sprint(in.vips))
	diff("track_script", fmt.Sprint(ref.tracks), fmt.Sprint(in.tracks))
	diff("nopreempt", fmt.Sprint(ref.nopreempt), fmt.Sprint(in.nopreempt))
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
