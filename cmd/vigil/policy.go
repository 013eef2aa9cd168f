package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/vigil-ha/vigil/core/agent"
	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/plugins/builtin"
)

// builtinKinds is every built-in name a policy may use.
func builtinKinds() map[string]string { return builtin.Kinds() }

func loadOptions(checkUsers bool) policy.Options {
	o := policy.Options{Builtins: builtinKinds()}
	if checkUsers {
		o.UserExists = func(name string) bool { _, err := user.Lookup(name); return err == nil }
		o.GroupExists = func(name string) bool { _, err := user.LookupGroup(name); return err == nil }
	}
	return o
}

// madeFlagSets, when not nil, collects every flag set a command makes (a
// test checks each command's help names all of its flags).
var madeFlagSets *[]*flag.FlagSet

func flagSet(name string, u *ui) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(u.err)
	if madeFlagSets != nil {
		*madeFlagSets = append(*madeFlagSets, fs)
	}
	return fs
}

type validateCommand struct{ ui *ui }

func (c *validateCommand) Synopsis() string { return "Check site policies; exit 1 on errors" }
func (c *validateCommand) Help() string {
	return `Usage: vigil validate [-strict] [-check-users] [-plugins] [-json] FILE...

  Decodes and checks each policy. Every error and warning is printed as
  file:line:col with what to do about it. Exit 0 when valid, 1 when not.

  -strict       warnings fail too
  -check-users  refuse plugin users that do not exist on this machine
  -plugins      start each plugin the policy uses and let it check its config
  -json         one JSON object per file on stdout: file, valid, diagnostics
                (severity, summary, detail, file, line, column, end_line,
                end_column), for editors and CI`
}

func (c *validateCommand) Run(args []string) int {
	fs := flagSet("validate", c.ui)
	strict := fs.Bool("strict", false, "warnings fail too")
	users := fs.Bool("check-users", false, "check plugin users exist here")
	plugins := fs.Bool("plugins", false, "start each plugin and let it validate its config")
	asJSON := fs.Bool("json", false, "JSON output")
	if err := parseInterleaved(fs, args); err != nil || fs.NArg() == 0 {
		c.ui.Error(c.Help())
		return 1
	}
	code := 0
	for _, path := range fs.Args() {
		site, files, diags := policy.Load(path, loadOptions(*users))
		diags = append(diags, exposedSecrets(site, files)...)
		if site != nil && *plugins {
			diags = append(diags, agent.ValidatePlugins(site.Configs(), self(), builtinSet{})...)
		}
		valid := !diags.HasErrors() && !(*strict && len(diags) > 0)
		if !valid {
			code = 1
		}
		if *asJSON {
			b, _ := json.Marshal(jsonReport(path, valid, diags))
			c.ui.Output(string(b))
			continue
		}
		policy.WriteDiagnostics(c.ui.err, files, diags)
		if valid {
			c.ui.Output(fmt.Sprintf("%s: valid (%d warnings)", path, len(diags)))
		}
	}
	return code
}

// exposedSecrets warns about each policy file every user can read when
// the policy holds a password.
func exposedSecrets(site *policy.Site, files map[string]*hcl.File) hcl.Diagnostics {
	if site == nil || !slices.ContainsFunc(site.Configs(), (*config.Config).HoldsSecret) {
		return nil
	}
	var diags hcl.Diagnostics
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fi, err := os.Stat(name)
		if err != nil || fi.Mode().Perm()&0o004 == 0 {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Password readable by every user",
			Detail:  fmt.Sprintf("%s holds a password and every user of this machine can read it (mode %04o). chmod o-r %s; the package installs the policy root:vigil 0640.", name, fi.Mode().Perm(), name),
			Subject: &hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos}})
	}
	return diags
}

type jsonDiag struct {
	Severity  string `json:"severity"`
	Summary   string `json:"summary"`
	Detail    string `json:"detail,omitempty"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	EndLine   int    `json:"end_line,omitempty"`
	EndColumn int    `json:"end_column,omitempty"`
}

type jsonValidation struct {
	File        string     `json:"file"`
	Valid       bool       `json:"valid"`
	Diagnostics []jsonDiag `json:"diagnostics"`
}

func jsonReport(path string, valid bool, diags hcl.Diagnostics) jsonValidation {
	out := jsonValidation{File: path, Valid: valid, Diagnostics: []jsonDiag{}}
	for _, d := range diags {
		j := jsonDiag{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			j.Severity = "warning"
		}
		if r := d.Subject; r != nil {
			j.File, j.Line, j.Column, j.EndLine, j.EndColumn = r.Filename, r.Start.Line, r.Start.Column, r.End.Line, r.End.Column
		}
		out.Diagnostics = append(out.Diagnostics, j)
	}
	return out
}

type planCommand struct{ ui *ui }

func (c *planCommand) Synopsis() string { return "Show who owns each VIP, and after each failure" }
func (c *planCommand) Help() string {
	return `Usage: vigil plan [-json] [--node NAME] [--from PREVIOUS] FILE

  Prints, for every instance, the owner and the backup order, then for
  every single failure (each node down, each check failing on each node)
  who owns the address afterwards and why. Warns about designs that do not
  do what they likely mean.

  --from PREVIOUS  also checks a change of authentication (hmac, passwords)
                   from the policy the nodes run now: deployed node by node,
                   do nodes on either policy still accept each other's
                   adverts? Exits 2 if not (docs/migrating.md).`
}

func (c *planCommand) Run(args []string) int {
	fs := flagSet("plan", c.ui)
	asJSON := fs.Bool("json", false, "JSON output")
	node := fs.String("node", "", "limit to the instances this node runs")
	from := fs.String("from", "", "the policy the nodes run now: check the rollout")
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
	code := 0
	if *from != "" {
		old, files, diags := policy.Load(*from, loadOptions(false))
		policy.WriteDiagnostics(c.ui.err, files, diags)
		if diags.HasErrors() {
			return 1
		}
		p.Rollout = site.RolloutFrom(old)
		for _, r := range p.Rollout {
			if !r.Safe {
				code = 2
			}
		}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(p, "", "  ")
		c.ui.Output(string(b))
		return code
	}
	var buf bytes.Buffer
	p.WriteText(&buf)
	c.ui.Output(strings.TrimRight(buf.String(), "\n"))
	return code
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
	return `Usage: vigil fmt [-check] [-diff] FILE...
       vigil fmt -          (standard input to standard output)

  Rewrites each file in canonical HCL formatting.

  -check  change nothing; list the files that are not formatted, exit 1
  -diff   change nothing; print what would change as a unified diff, exit 1
          if anything would`
}

func (c *fmtCommand) Run(args []string) int {
	fs := flagSet("fmt", c.ui)
	check := fs.Bool("check", false, "only report unformatted files")
	diff := fs.Bool("diff", false, "print changes as a unified diff")
	if err := parseInterleaved(fs, args); err != nil || fs.NArg() == 0 {
		c.ui.Error(c.Help())
		return 1
	}
	if fs.NArg() == 1 && fs.Arg(0) == "-" {
		src, err := io.ReadAll(io.LimitReader(c.ui.stdin(), policy.MaxPolicyBytes+1))
		if err != nil || len(src) > policy.MaxPolicyBytes {
			c.ui.Error(fmt.Sprintf("standard input: %v (at most %d bytes)", err, policy.MaxPolicyBytes))
			return 1
		}
		if _, diags := hclwrite.ParseConfig(src, "<stdin>", hcl.InitialPos); diags.HasErrors() {
			policy.WriteDiagnostics(c.ui.err, map[string]*hcl.File{"<stdin>": {Bytes: src}}, diags)
			return 1
		}
		fmt.Fprint(c.ui.out, string(hclwrite.Format(src)))
		return 0
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
		if *diff {
			fmt.Fprint(c.ui.out, unifiedDiff(path, src, out))
			code = 1
			continue
		}
		if *check {
			c.ui.Output(path)
			code = 1
			continue
		}
		if err := replaceFile(path, out); err != nil {
			c.ui.Error(err.Error())
			code = 1
			continue
		}
		c.ui.Output(path)
	}
	return code
}

// replaceFile puts b in place of the file at path (through a symbolic
// link, the file it names) atomically: a new file with the old one's mode
// and owner, synced, renamed over it. A crash or a full disk leaves the
// old policy whole, never a truncated one.
func replaceFile(path string, b []byte) (err error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(real)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(real), "."+filepath.Base(real)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		tmp.Chown(int(sys.Uid), int(sys.Gid)) // as root; otherwise the file is ours already
	}
	if err = tmp.Chmod(st.Mode().Perm()); err == nil {
		if _, err = tmp.Write(b); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), real); err != nil {
		return err
	}
	if d, derr := os.Open(filepath.Dir(real)); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
