package policy

import (
	"github.com/vigil-ha/vigil/core/config"

	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// This file: plugin blocks and what every plugin-using block shares: kinds, users, config.

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
		b.err(attrRange(body, "plugin", rng), "Unknown plugin", "No built-in plugin is named %q and no plugin block declares it.%s", name, Suggest(name, append(keys(b.plugins), keys(b.opts.Builtins)...)))
		return
	}
	if got != kind {
		b.err(attrRange(body, "plugin", rng), "Wrong kind of plugin", "%q is a %s plugin; a %s needs a %s plugin.", name, got, kind, kind)
	}
}

func (b *builder) pluginConfig(cb *configBlock) config.PluginConfig {
	pc := config.PluginConfig{JSON: []byte("{}"), Ranges: map[string]config.Range{}}
	if cb == nil {
		return pc
	}
	var block hcl.Range // the config block, for an error in it as a whole
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
		pc.Ranges[name] = configRange(a.Expr.Range())
	}
	if sb, ok := cb.Remain.(*hclsyntax.Body); ok {
		block = sb.SrcRange
		pc.Block = configRange(block)
		for _, blk := range sb.Blocks {
			b.err(blk.DefRange(), "Nested block in plugin config", "Plugin settings are attributes (name = value); write %s = { ... } instead of a block.", blk.Type)
		}
	}
	v := cty.ObjectVal(obj)
	js, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		b.err(block, "Plugin config cannot be encoded", "%v", err)
		return pc
	}
	pc.JSON = js
	return pc
}

// configRange is r as the resolved config keeps it.
func configRange(r hcl.Range) config.Range {
	return config.Range{Filename: r.Filename,
		Start: config.Pos{Line: r.Start.Line, Column: r.Start.Column, Byte: r.Start.Byte},
		End:   config.Pos{Line: r.End.Line, Column: r.End.Column, Byte: r.End.Byte}}
}
