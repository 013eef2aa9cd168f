// Package builtin is the one table of plugins compiled into vigil, and the
// only importer of plugins/*. They run in processes of their own, never in
// the agent: the agent re-executes `vigil plugin --shared` once per plugin
// user, which calls ServeShared (`vigil plugin NAME` serves one alone).
package builtin

import (
	"fmt"
	"sort"

	"github.com/vigil-ha/vigil/plugins/execcheck"
	"github.com/vigil-ha/vigil/plugins/execnotify"
	"github.com/vigil-ha/vigil/plugins/fileweight"
	"github.com/vigil-ha/vigil/plugins/httpprobe"
	"github.com/vigil-ha/vigil/plugins/nginxaction"
	"github.com/vigil-ha/vigil/plugins/nginxprocess"
	"github.com/vigil-ha/vigil/plugins/processcheck"
	"github.com/vigil-ha/vigil/plugins/smtpnotify"
	"github.com/vigil-ha/vigil/sdk"
	"github.com/vigil-ha/vigil/sdk/host"
)

type entry struct {
	kind sdk.Kind
	new  func() sdk.Base
}

var table = map[string]entry{
	"exec":          {sdk.KindCheck, execcheck.New},
	"http-probe":    {sdk.KindCheck, httpprobe.New},
	"nginx-process": {sdk.KindCheck, nginxprocess.New},
	"nginx-action":  {sdk.KindAction, nginxaction.New},
	"smtp-notify":   {sdk.KindNotifier, smtpnotify.New},
	"exec-notify":   {sdk.KindNotifier, execnotify.New},
	"file-weight":   {sdk.KindCheck, fileweight.New},
	"process":       {sdk.KindCheck, processcheck.New},
}

// Kinds maps each built-in plugin's name to its kind, for policy checks.
func Kinds() map[string]string {
	out := make(map[string]string, len(table))
	for n, e := range table {
		out[n] = string(e.kind)
	}
	return out
}

// Has reports whether name is built in.
func Has(name string) bool { _, ok := table[name]; return ok }

// Serve runs built-in plugin name as this process; it returns only on error.
func Serve(name string) error {
	p, err := New(name)
	if err != nil {
		return err
	}
	sdk.Serve(p)
	return nil
}

// ServeShared runs this process as the home of every built-in block the
// agent routes to it; it returns when the agent ends it.
func ServeShared() error {
	sdk.Serve(&host.Router{New: New})
	return nil
}

// New makes a fresh instance of built-in plugin name.
func New(name string) (sdk.Base, error) {
	e, ok := table[name]
	if !ok {
		names := make([]string, 0, len(table))
		for n := range table {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("no built-in plugin %q (built in: %v)", name, names)
	}
	return e.new(), nil
}
