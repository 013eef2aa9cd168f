package execcheck_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/plugins/exec"
	"github.com/vigil-ha/vigil/sdk"
)

func TestExitStatusIsHealth(t *testing.T) {
	cases := []struct {
		cmd     []any
		healthy bool
		msg     string
	}{
		{[]any{"/bin/true"}, true, "exited 0"},
		{[]any{"/bin/sh", "-c", "echo no nginx master; exit 3"}, false, "exited 3: no nginx master"},
		{[]any{"/bin/sleep", "5"}, false, "killed"},
	}
	for _, c := range cases {
		p := execcheck.New().(*execcheck.Check)
		if err := p.Configure(context.Background(), map[string]any{"command": c.cmd}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		r, err := p.Check(ctx)
		cancel()
		if err != nil || r.Healthy != c.healthy || !strings.Contains(r.Message, c.msg) {
			t.Errorf("%v: %+v %v, want healthy=%v with %q", c.cmd, r, err, c.healthy, c.msg)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []map[string]any{{}, {"command": []any{"/nonexistent/check"}}, {"script": "x"}} {
		err := execcheck.New().Configure(context.Background(), cfg)
		if _, ok := err.(sdk.ConfigErrors); !ok {
			t.Errorf("Configure(%v) = %v, want ConfigErrors", cfg, err)
		}
	}
}
