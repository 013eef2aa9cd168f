package host

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/vigil-ha/vigil/sdk"
	"github.com/vigil-ha/vigil/sdk/internal/wire"
)

// counter is a check that says which instance answered and what it was
// configured with.
type counter struct {
	id     int
	name   string
	closed bool
}

func (c *counter) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "counter", Kind: sdk.KindCheck}, nil
}
func (c *counter) Configure(_ context.Context, m map[string]any) error {
	if m["fail"] != nil {
		return errors.New("refused")
	}
	c.name, _ = m["name"].(string)
	return nil
}
func (c *counter) Check(context.Context) (sdk.Result, error) {
	return sdk.Result{Healthy: true, Message: c.name}, nil
}
func (c *counter) Close() error { c.closed = true; return nil }

type note struct{ ev sdk.Event }

func (*note) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "note", Kind: sdk.KindNotifier}, nil
}
func (*note) Configure(context.Context, map[string]any) error { return nil }
func (n *note) Notify(_ context.Context, ev sdk.Event) error  { n.ev = ev; return nil }

func call(block, plugin string, extra ...string) context.Context {
	return metadata.NewIncomingContext(context.Background(),
		metadata.Pairs(append([]string{wire.BlockKey, block, wire.PluginKey, plugin}, extra...)...))
}

// Each block of a shared process has an instance of its own, configured
// alone; a call is refused unless it names a configured block.
func TestRouterKeepsBlocksApart(t *testing.T) {
	made := []*counter{}
	r := &Router{New: func(p string) (sdk.Base, error) {
		switch p {
		case "counter":
			c := &counter{id: len(made)}
			made = append(made, c)
			return c, nil
		case "note":
			return &note{}, nil
		}
		return nil, errors.New("no plugin " + p)
	}}
	for _, b := range []string{"web", "db"} {
		if err := r.Configure(call(b, "counter"), map[string]any{"name": b}); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{"web", "db"} {
		res, err := r.Check(call(b, "counter"))
		if err != nil || res.Message != b {
			t.Errorf("block %s answered %+v, %v", b, res, err)
		}
	}

	// A refused config leaves the block as it was.
	if err := r.Configure(call("web", "counter"), map[string]any{"fail": true}); err == nil {
		t.Error("refusal lost")
	}
	if res, _ := r.Check(call("web", "counter")); res.Message != "web" {
		t.Errorf("after a refused reconfigure, web answered %q", res.Message)
	}

	refused := []struct {
		name string
		ctx  context.Context
	}{
		{"no block named", context.Background()},
		{"a block never configured", call("mail", "counter")},
		{"the block under another plugin", call("web", "note")},
	}
	for _, c := range refused {
		if _, err := r.Check(c.ctx); err == nil {
			t.Errorf("%s: answered", c.name)
		}
	}
	if err := r.Configure(call("x", "nosuch"), nil); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown plugin: %v", err)
	}

	// A notifier block is not a check; a check block is not a notifier.
	if err := r.Configure(call("mail", "note"), map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Check(call("mail", "note")); err == nil {
		t.Error("a notifier answered Check")
	}
	if err := r.Notify(call("web", "counter"), sdk.Event{}); err == nil {
		t.Error("a check answered Notify")
	}
	if err := r.Notify(call("mail", "note"), sdk.Event{Instance: "VI_1"}); err != nil {
		t.Error(err)
	}

	// Forget ends one block, closing it; the others go on.
	web := made[0]
	if err := r.Configure(call("web", "counter", wire.ForgetKey, "1"), nil); err != nil {
		t.Fatal(err)
	}
	if !web.closed {
		t.Error("forgotten block not closed")
	}
	if _, err := r.Check(call("web", "counter")); err == nil {
		t.Error("forgotten block still answers")
	}
	if res, err := r.Check(call("db", "counter")); err != nil || res.Message != "db" {
		t.Errorf("db after web was forgotten: %+v, %v", res, err)
	}
}
