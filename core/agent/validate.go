package agent

import (
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/pluginhost"
	"github.com/vigil-ha/vigil/sdk"
)

// ValidatePlugins starts every plugin the configurations use, gives each its
// config block, and turns refusals into diagnostics pointing at the
// attribute (or the block) the plugin named. Plugins are stopped again.
func ValidatePlugins(cfgs []*config.Config, self string, builtins Builtins) hcl.Diagnostics {
	l := &launcher{log: hclog.NewNullLogger(), self: self, builtins: builtins}
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	try := func(cfg *config.Config, kind sdk.Kind, block, plugin string, pc config.PluginConfig) {
		key := string(kind) + "/" + block
		if seen[key] {
			return
		}
		seen[key] = true
		p, err := l.launch(cfg, block, plugin, kind, pc.JSON, func(*pluginhost.Spec) {})
		if err == nil {
			p.Close()
			return
		}
		diags = append(diags, configDiags(kind, block, pc, err)...)
	}
	for _, cfg := range cfgs {
		for _, c := range cfg.Checks {
			try(cfg, sdk.KindCheck, c.Name, c.Plugin, c.Config)
		}
		for _, a := range cfg.Actions {
			try(cfg, sdk.KindAction, a.Name, a.Plugin, a.Config)
		}
		for _, n := range cfg.Notifiers {
			try(cfg, sdk.KindNotifier, n.Name, n.Plugin, n.Config)
		}
	}
	return diags
}

// configDiags places a plugin's refusal in the policy.
func configDiags(kind sdk.Kind, block string, pc config.PluginConfig, err error) hcl.Diagnostics {
	var ces sdk.ConfigErrors
	if !errors.As(err, &ces) {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Plugin for %s %q cannot start", kind, block),
			Detail: err.Error(), Subject: hclRange(pc.Block).Ptr()}}
	}
	var out hcl.Diagnostics
	for _, ce := range ces {
		subject := pc.Block
		if r, ok := pc.Ranges[ce.Attribute]; ok {
			subject = r
		}
		detail := ce.Message
		if ce.Attribute != "" {
			detail = ce.Attribute + ": " + ce.Message
		}
		out = append(out, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("The %s plugin of %s %q refused its config", kind, kind, block),
			Detail: detail, Subject: hclRange(subject).Ptr()})
	}
	return out
}

// hclRange is r as a diagnostic points at it.
func hclRange(r config.Range) hcl.Range {
	return hcl.Range{Filename: r.Filename,
		Start: hcl.Pos{Line: r.Start.Line, Column: r.Start.Column, Byte: r.Start.Byte},
		End:   hcl.Pos{Line: r.End.Line, Column: r.End.Column, Byte: r.End.Byte}}
}
