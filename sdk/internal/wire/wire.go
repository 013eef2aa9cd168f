// Package wire holds what both ends of the plugin protocol must agree on
// besides the protobuf messages: the go-plugin handshake.
package wire

import (
	"context"

	"github.com/hashicorp/go-plugin"
)

// Handshake is shared by the agent and every plugin. ProtocolVersion
// changes only when the protocol changes incompatibly.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "VIGIL_PLUGIN",
	MagicCookieValue: "b6c1e0b2-vrrp-vigil-plugin",
}

// Metadata keys the agent sends with every call, so that one process can
// serve several policy blocks: the block's id and the plugin it uses. A
// process serving one plugin ignores them.
const (
	BlockKey  = "vigil-block"
	PluginKey = "vigil-plugin"
	// ForgetKey on a Configure call ends the block instead of configuring it.
	ForgetKey = "vigil-forget"
	// AuthKey carries the key the agent gave the process at its start:
	// a plugin answers Vigil's calls only with it, so only the agent can
	// call it (another process of the plugin's user can reach its socket).
	AuthKey = "vigil-auth"
)

// AuthFDEnv names the descriptor the plugin reads its key from, once, at
// start: a pipe whose writing end the agent closes after the key.
const AuthFDEnv = "VIGIL_AUTH_FD"

// VigilServices is the prefix of the methods the key guards; go-plugin's
// own (health, shutdown, stdio) stay open to its client.
const VigilServices = "/vigil.plugin.v1."

// Token cannot be named outside the sdk's tree, so only sdk/host can
// implement Shared.
type Token struct{}

// Shared is implemented by the agent's router of built-in plugins: sdk.Serve
// serves it under every kind at once.
type Shared interface {
	Shared(Token)
	// Watches reports whether the block a call is for pushes results.
	Watches(ctx context.Context) bool
}
