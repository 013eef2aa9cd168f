// Command gendocs writes vigil's man pages and shell completion from the
// sources the rest of the docs come from: vigil(8) from the binary's own
// help texts, vigil-policy(5) from the policy schema (core/policy, as
// docs/policy.md), completion from the command list and each command's
// flags as its help names them. It runs at package build (make deb), so
// nothing generated is committed and nothing can drift.
//
//	go run ./packaging/gendocs -vigil bin/vigil -version 0.1.0 -out DIR
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"

	"github.com/vigil-ha/vigil/core/policy"
)

func main() {
	bin := flag.String("vigil", "bin/vigil", "the vigil binary to document")
	version := flag.String("version", "dev", "version for the pages' footer")
	out := flag.String("out", "", "output directory (man8/, man5/, completion/)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gendocs: -out is required")
		os.Exit(2)
	}
	cmds, err := commands(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	files := map[string][]byte{
		"man8/vigil.8.gz":        gz(md2man.Render([]byte(vigilPage(cmds, *version)))),
		"man5/vigil-policy.5.gz": gz(md2man.Render([]byte(policyPage(*version)))),
		"completion/vigil.bash":  []byte(bashCompletion(cmds)),
		"completion/_vigil":      []byte(zshCompletion(cmds)),
	}
	for name, b := range files {
		p := filepath.Join(*out, name)
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			err = os.WriteFile(p, b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
}

// command is one subcommand as its help describes it.
type command struct {
	name, synopsis, help string
	flags                []string
}

var (
	commandLine = regexp.MustCompile(`^    ([a-z-]+)\s+(.+)$`)
	flagName    = regexp.MustCompile(`(?:^|[\s\[])(--?[a-z][a-z-]*)`)
)

// commands reads the command list and each command's help from the binary.
func commands(bin string) ([]command, error) {
	top, err := exec.Command(bin, "--help").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --help: %w", bin, err)
	}
	var cmds []command
	for _, line := range strings.Split(string(top), "\n") {
		m := commandLine.FindStringSubmatch(line)
		if m == nil || m[1] == "plugin" { // plugin is the agent's own
			continue
		}
		help, err := exec.Command(bin, "help", m[1]).Output()
		if err != nil {
			return nil, fmt.Errorf("%s help %s: %w", bin, m[1], err)
		}
		c := command{name: m[1], synopsis: m[2], help: strings.TrimSpace(string(help))}
		seen := map[string]bool{"-h": true}
		for _, f := range flagName.FindAllStringSubmatch(c.help, -1) {
			if !seen[f[1]] {
				seen[f[1]] = true
				c.flags = append(c.flags, f[1])
			}
		}
		sort.Strings(c.flags)
		cmds = append(cmds, c)
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("%s --help lists no commands", bin)
	}
	return cmds, nil
}

func vigilPage(cmds []command, version string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# vigil 8 \"\" \"vigil %s\" \"System Manager's Manual\"\n\n", version)
	b.WriteString(`# NAME
vigil - VRRP high-availability daemon driven by a site policy

# SYNOPSIS
**vigil** [**--version**] [**--help**] *command* [*args*]

# DESCRIPTION
**vigil** keeps service addresses alive. On each node the agent speaks VRRP (RFC 3768 version 2
and RFC 5798 version 3, on the wire compatible with keepalived), owns the virtual IPs while it is
master, and lowers its priority or gives the addresses away when the service it fronts is
unhealthy. One HCL policy, described in **vigil-policy**(5), covers a whole site; every node runs
the same file and picks its part by node name. Health checks, notifiers and recovery actions are
plugins that run outside the agent, as unprivileged users.

# COMMANDS
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "### %s\n%s.\n\n```\n%s\n```\n\n", c.name, c.synopsis, c.help)
	}
	b.WriteString(`# SIGNALS
**SIGHUP**
: Reload the policy. A policy that does not load leaves the running one in place.

**SIGTERM**, **SIGINT**
: Resign: masters send priority 0 so a backup takes over at once, addresses this run added are
removed, plugins stop.

# FILES
*/etc/vigil/site.hcl*
: The site policy the packaged service runs.

*/etc/default/vigil*
: **VIGIL_NODE=**, this node's name in the policy when it is not the short host name.

*/var/lib/vigil*
: The record of addresses the agent added, which **vigil cleanup** and the next start read.

*/run/vigil/vigil.sock*
: The status socket **vigil status** reads.

*/usr/lib/vigil/plugins*
: Where third-party plugin binaries go (owned by root, pinned by SHA-256 in the policy).

# EXIT STATUS
0 on success; 1 on a usage, policy or runtime error.

# SEE ALSO
**vigil-policy**(5), **keepalived**(8), **systemd.service**(5)
`)
	return b.String()
}

func policyPage(version string) string {
	ref := policy.Reference()
	// The reference's own title becomes the page's header.
	_, body, _ := strings.Cut(ref, "\n")
	var b strings.Builder
	fmt.Fprintf(&b, "# vigil-policy 5 \"\" \"vigil %s\" \"File Formats Manual\"\n\n", version)
	b.WriteString("# NAME\nvigil-policy - the HCL site policy vigil(8) runs\n\n# DESCRIPTION\n")
	// Level-2 headings are sections to md2man, level 3 and below
	// subsections; the line saying how docs/policy.md is made is not
	// the page's business.
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "Generated from ") {
			b.WriteString(line + "\n")
		}
	}
	b.WriteString("\n# SEE ALSO\n**vigil**(8), **keepalived.conf**(5)\n")
	return b.String()
}

func bashCompletion(cmds []command) string {
	var names []string
	var cases strings.Builder
	for _, c := range cmds {
		names = append(names, c.name)
		fmt.Fprintf(&cases, "    %s) opts=%q ;;\n", c.name, strings.Join(c.flags, " "))
	}
	return fmt.Sprintf(`# bash completion for vigil (generated by packaging/gendocs)
_vigil() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "%s --help --version" -- "$cur"))
    return
  fi
  local opts=""
  case ${COMP_WORDS[1]} in
%s  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _vigil vigil
`, strings.Join(names, " "), cases.String())
}

func zshCompletion(cmds []command) string {
	var subs, cases strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&subs, "    '%s:%s'\n", c.name, strings.ReplaceAll(c.synopsis, "'", "'\\''"))
		fmt.Fprintf(&cases, "    %s) _arguments '*:file:_files'", c.name)
		for _, f := range c.flags {
			fmt.Fprintf(&cases, " '%s'", f)
		}
		cases.WriteString(" ;;\n")
	}
	return fmt.Sprintf(`#compdef vigil
# zsh completion for vigil (generated by packaging/gendocs)
_vigil() {
  local -a commands
  commands=(
%s  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case $words[2] in
%s  esac
}
_vigil "$@"
`, subs.String(), cases.String())
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}
