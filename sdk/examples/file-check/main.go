// Command file-check is an example third-party Vigil plugin, built in its
// own module against the sdk alone: the check passes while a file exists
// (and, if set, contains a string). It also pushes results the moment the
// file changes, so the agent need not wait for its next poll.
//
//	check "maintenance" {
//	  plugin = "file-check"
//	  weight = -50
//	  config {
//	    path     = "/run/app/healthy"
//	    contains = "ok"
//	  }
//	}
package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/sdk"
)

type fileCheck struct {
	cfg struct {
		Path     string       `json:"path"`
		Contains string       `json:"contains"`
		Poll     sdk.Duration `json:"poll"` // how often Watch looks (default 100ms)
	}
}

func (f *fileCheck) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "file-check", Kind: sdk.KindCheck, Version: "1.0.0"}, nil
}

func (f *fileCheck) Configure(_ context.Context, c map[string]any) error {
	if err := sdk.DecodeConfig(c, &f.cfg); err != nil {
		return err
	}
	if f.cfg.Path == "" {
		return sdk.ConfigErrors{{Attribute: "path", Message: "required: the file whose presence means healthy"}}
	}
	if f.cfg.Poll == 0 {
		f.cfg.Poll = sdk.Duration(100 * time.Millisecond)
	}
	return nil
}

func (f *fileCheck) Check(context.Context) (sdk.Result, error) {
	b, err := os.ReadFile(f.cfg.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return sdk.Result{Healthy: false, Message: f.cfg.Path + " does not exist"}, nil
	case err != nil:
		return sdk.Result{}, err
	case f.cfg.Contains != "" && !strings.Contains(string(b), f.cfg.Contains):
		return sdk.Result{Healthy: false, Message: f.cfg.Path + " lacks " + f.cfg.Contains}, nil
	}
	return sdk.Result{Healthy: true, Message: f.cfg.Path + " is there"}, nil
}

// Watch pushes a result whenever health changes.
func (f *fileCheck) Watch(ctx context.Context, report func(sdk.Result)) error {
	last := -1
	t := time.NewTicker(time.Duration(f.cfg.Poll))
	defer t.Stop()
	for {
		r, err := f.Check(ctx)
		if err == nil {
			if now := map[bool]int{false: 0, true: 1}[r.Healthy]; now != last {
				last = now
				report(r)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func main() { sdk.Serve(&fileCheck{}) }
