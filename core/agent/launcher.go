package agent

import (
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/pluginhost"
	"github.com/vigil-ha/vigil/sdk"
)

// Builtins tells the agent which plugins are compiled into this binary.
type Builtins interface {
	Has(name string) bool
}

// launcher turns a policy block into a running plugin process: which
// binary, as whom, with what.
type launcher struct {
	log      hclog.Logger
	self     string // this binary, re-executed for built-ins
	builtins Builtins
}

// spec builds the launch spec of plugin name for a policy block.
func (l *launcher) spec(cfg *config.Config, block, name string, kind sdk.Kind, blockConfig []byte) (pluginhost.Spec, error) {
	s := pluginhost.Spec{Name: block, Plugin: name, Kind: kind, Config: blockConfig, User: cfg.PluginUser, MaxBackoff: cfg.PluginRestartMax}
	for _, p := range cfg.Plugins {
		if p.Name == name && p.Path == "" && l.builtins.Has(name) {
			s.User, s.Group, s.PassEnv = p.User, p.Group, p.PassEnv // a built-in's options
			break
		}
		if p.Name == name {
			s.Path, s.Args, s.SHA256, s.User, s.Group, s.PassEnv = p.Path, p.Args, p.SHA256, p.User, p.Group, p.PassEnv
			return s, nil
		}
	}
	if !l.builtins.Has(name) {
		return s, fmt.Errorf("%s %q uses plugin %q, which is not built into this vigil and not declared in a plugin block", kind, block, name)
	}
	s.Path, s.Args, s.Builtin, s.Shared = l.self, pluginhost.SharedArgs, true, true
	return s, nil
}

// launch starts a block's plugin with the spec adjusted by tune.
func (l *launcher) launch(cfg *config.Config, block, name string, kind sdk.Kind, config []byte, tune func(*pluginhost.Spec)) (*pluginhost.Plugin, error) {
	s, err := l.spec(cfg, block, name, kind, config)
	if err != nil {
		return nil, err
	}
	tune(&s)
	return pluginhost.Launch(s, l.log)
}
