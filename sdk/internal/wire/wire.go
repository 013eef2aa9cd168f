// Package wire holds what both ends of the plugin protocol must agree on
// besides the protobuf messages: the go-plugin handshake.
package wire

import "github.com/hashicorp/go-plugin"

// Handshake is shared by the agent and every plugin. ProtocolVersion
// changes only when the protocol changes incompatibly.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "VIGIL_PLUGIN",
	MagicCookieValue: "b6c1e0b2-vrrp-vigil-plugin",
}
