package sdk

import "github.com/hashicorp/go-plugin"

// PluginSet exposes the serving side to the round-trip tests.
func PluginSet(p Base) (plugin.PluginSet, error) { return pluginSet(p) }
