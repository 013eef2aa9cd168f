package sdk

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/vigil-ha/vigil/sdk/internal/wire"
)

// Only the agent that started the plugin, holding its key, may call
// Vigil's services; go-plugin's own (health, stdio) stay open to it.
func TestOnlyTheAgentsKeyIsServed(t *testing.T) {
	key := authKey("0123456789abcdef0123456789abcdef")
	with := func(vals ...string) context.Context {
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs(vals...))
	}
	method := wire.VigilServices + "Check/Check"
	cases := []struct {
		name   string
		ctx    context.Context
		method string
		ok     bool
	}{
		{"the key", with(wire.AuthKey, string(key)), method, true},
		{"no key", context.Background(), method, false},
		{"another key", with(wire.AuthKey, "0123456789abcdef0123456789abcdeX"), method, false},
		{"a prefix of the key", with(wire.AuthKey, string(key[:16])), method, false},
		{"the key twice", with(wire.AuthKey, string(key), wire.AuthKey, string(key)), method, false},
		{"go-plugin's health service", context.Background(), "/grpc.health.v1.Health/Check", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := key.check(c.ctx, c.method)
			if (err == nil) != c.ok {
				t.Fatalf("check = %v, want ok %v", err, c.ok)
			}
			if err != nil && status.Code(err) != codes.Unauthenticated {
				t.Errorf("refused with %v, want Unauthenticated", status.Code(err))
			}
		})
	}
}
