package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/vigil-ha/vigil/core/agent"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/plugins/builtin"
)

// builtinKinds is every built-in name a policy may use.
func builtinKinds() map[string]string { return builtin.Kinds() }

func loadOptions(checkUsers bool) policy.Options {
	o := policy.Options{Builtins: builtinKinds()}
	if checkUsers {
		o.UserExists = func(name string) bool { _, err := user.Lookup(name); return err == nil }
	}
	return o
}

func flagSet(name string, u *ui) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(u.err)
	return fs
}

type validateCommand struct{ ui *ui }

func (c *validateCommand) Synopsis() string { return "Check site policies; exit 1 on errors" }
func (c *validateCommand) Help() string {
	return `Usage: vigil validate [-strict] [-check-users] FILE...

  Decodes and checks each policy. Every error and warning is printed as
  file:line:col with what to do about it. Exit 0 when valid, 1 when not.

  -strict       warnings fail too
  -check-users  refuse plugin users that do not exist on this machine
  -plugins      start each plugin the policy uses and let it check its config`
}

func (c *validateCommand) Run(args []string) int {
	fs := flagSet("validate", c.ui)
	strict := fs.Bool("strict", false, "warnings fail too")
	users := fs.Bool("check-users", false, "check plugin users exist here")
	plugins := fs.Bool("plugins", false, "start each plugin and let it validate its config")
	if err := parseInterleaved(fs, args); err != nil || fs.NArg() == 0 {
		c.ui.Error(c.Help())
		return 1
	}
	code := 0
	for _, path := range fs.Args() {
		site, files, diags := policy.Load(path, loadOptions(*users))
		if site != nil && *plugins {
			diags = append(diags, agent.ValidatePlugins(site.Configs(), self(), builtinSet{})...)
		}
		policy.WriteDiagnostics(c.ui.err, files, diags)
		if diags.HasErrors() || (*strict && len(diags) > 0) {
			code = 1
			continue
		}
		c.ui.Output(fmt.Sprintf("%s: valid (%d warnings)", path, len(diags)))
	}
	return code
}

type planCommand struct{ ui *ui }

func (c *planCommand) Synopsis() string { return "Show who owns each VIP, and after each failure" }
func (c *planCommand) Help() string {
	return `Usage: vigil plan [-json] [--node NAME] FILE

  Prints, for every instance, the owner and the backup order, then for
  every single failure (each node down, each check failing on each node)
  who owns the address afterwards and why. Warns about designs that do not
  do what they likely mean.`
}

func (c *planCommand) Run(args []string) int {
	fs := flagSet("plan", c.ui)
	asJSON := fs.Bool("json", false, "JSON output")
	node := fs.String("node", "", "limit to the instances this node runs")
	if err := parseInterleaved(fs, args); err != nil || fs.NArg() != 1 {
		c.ui.Error(c.Help())
		return 1
	}
	site, files, diags := policy.Load(fs.Arg(0), loadOptions(false))
	policy.WriteDiagnostics(c.ui.err, files, diags)
	if diags.HasErrors() {
		return 1
	}
	if *node != "" {
		if _, err := site.Config(*node); err != nil {
			c.ui.Error(err.Error())
			return 1
		}
	}
	p := site.Plan(*node)
	if *asJSON {
		b, _ := json.MarshalIndent(p, "", "  ")
		c.ui.Output(string(b))
		return 0
	}
	var buf bytes.Buffer
	p.WriteText(&buf)
	c.ui.Output(strings.TrimRight(buf.String(), "\n"))
	return 0
}

// parseInterleaved parses flags wherever they stand among the file
// names, so that `vigil validate site.hcl -strict` works as people type it.
func parseInterleaved(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

type fmtCommand struct{ ui *ui }

func (c *fmtCommand) Synopsis() string { return "Rewrite policies in canonical HCL style" }
func (c *fmtCommand) Help() string {
	return `Usage: vigil fmt [-check] FILE...

  Rewrites each file in canonical HCL formatting. With -check, changes
  nothing and exits 1 if any file is not formatted, listing them.`
}

func (c *fmtCommand) Run(args []string) int {
	fs := flagSet("fmt", c.ui)
	check := fs.Bool("check", false, "only report unformatted files")
	if err := parseInterleaved(fs, args); err != nil || fs.NArg() == 0 {
		c.ui.Error(c.Help())
		return 1
	}
	code := 0
	for _, path := range fs.Args() {
		src, err := os.ReadFile(path)
		if err != nil {
			c.ui.Error(err.Error())
			code = 1
			continue
		}
		_, diags := hclwrite.ParseConfig(src, path, hcl.InitialPos)
		if diags.HasErrors() {
			policy.WriteDiagnostics(c.ui.err, map[string]*hcl.File{path: {Bytes: src}}, diags)
			code = 1
			continue
		}
		out := hclwrite.Format(src)
		if bytes.Equal(out, src) {
			continue
		}
		if *check {
			c.ui.Output(path)
			code = 1
			continue
		}
		st, _ := os.Stat(path)
		if err := os.WriteFile(path, out, st.Mode().Perm()); err != nil {
			c.ui.Error(err.Error())
			code = 1
			continue
		}
		c.ui.Output(path)
	}
	return code
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
