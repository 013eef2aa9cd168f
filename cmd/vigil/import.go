package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/kaimport"
	"github.com/vigil-ha/vigil/core/policy"
)

type importCommand struct{ ui *ui }

func (c *importCommand) Synopsis() string { return "Turn keepalived configuration into a Vigil policy" }
func (c *importCommand) Help() string {
	return `Usage: vigil import KEEPALIVED.CONF... [--node NAME=FILE ...]

  Reads keepalived configuration and prints the Vigil policy that does the
  same on standard output. One file gives a per-node policy in keepalived's
  shape. Several files (one per node) give a site policy: one node block
  each, named by --node NAME=FILE or else by the file's router_id, and each
  instance's priorities side by side.

  vrrp_script checks become the exec check (the script runs unchanged), or
  nginx-process when the script looks for nginx's master process. What has
  no Vigil equivalent is listed on standard error with its file:line. The
  result is validated; exit 1 if it has errors.`
}

func (c *importCommand) Run(args []string) int {
	var nodes []kaimport.Node // in command-line order; Name "" until named
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--node" || a == "-node":
			if i+1 == len(args) {
				c.ui.Error("--node needs NAME=FILE\n\n" + c.Help())
				return 1
			}
			i++
			a = "--node=" + args[i]
			fallthrough
		case strings.HasPrefix(a, "--node=") || strings.HasPrefix(a, "-node="):
			name, file, ok := strings.Cut(a[strings.Index(a, "=")+1:], "=")
			if !ok || name == "" || file == "" {
				c.ui.Error(fmt.Sprintf("--node %q: write NAME=FILE, e.g. --node lb01=/etc/keepalived/lb01.conf", a))
				return 1
			}
			nodes = append(nodes, kaimport.Node{Name: name, Path: file})
		case strings.HasPrefix(a, "-"):
			c.ui.Error(fmt.Sprintf("unknown flag %s\n\n%s", a, c.Help()))
			return 1
		default:
			nodes = append(nodes, kaimport.Node{Path: a})
		}
	}
	if len(nodes) > 1 || len(nodes) == 1 && nodes[0].Name != "" {
		for i := range nodes {
			if nodes[i].Name == "" {
				nodes[i].Name = kaimport.NodeName(nodes[i].Path)
			}
		}
	}
	if len(nodes) == 0 {
		c.ui.Error(c.Help())
		return 1
	}
	out, warnings, err := kaimport.Convert(nodes)
	if err != nil {
		c.ui.Error("vigil import: " + err.Error())
		return 1
	}
	for _, w := range warnings {
		c.ui.Error("warning: " + w.String())
	}
	c.ui.Output(strings.TrimRight(string(out), "\n"))
	site, _, diags := policy.Parse("imported.hcl", out, loadOptions(false))
	if site != nil && slices.ContainsFunc(site.Configs(), (*config.Config).HoldsSecret) {
		c.ui.Error("note: the policy holds secrets (a password, an HMAC key): save it readable by root and vigil only, as keepalived.conf should be (install -m 0640 -g vigil)")
	}
	if len(diags) > 0 {
		c.ui.Error("the imported policy, checked as vigil validate would:")
		policy.WriteDiagnostics(c.ui.err, map[string]*hcl.File{"imported.hcl": {Bytes: out}}, diags)
	}
	if diags.HasErrors() {
		return 1
	}
	return 0
}
