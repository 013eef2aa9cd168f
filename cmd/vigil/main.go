// Command vigil is the Vigil daemon and its tools: one binary, one
// subcommand per job (the README lists them, docs/operating.md runs them).
//
// The dispatcher is a few lines of the standard library rather than a CLI
// framework on purpose: every agent and every built-in plugin process runs
// this binary, and each package linked in is mapped into all of them (see
// docs/benchmarks.md, idle cost).
package main

import (
	"fmt"
	"github.com/vigil-ha/vigil/core/policy"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
)

var version = "dev"

// command is one subcommand.
type command interface {
	Synopsis() string // one line for the command list
	Help() string     // full usage, printed for -h and on misuse
	Run(args []string) int
}

// ui is where a command writes: results to out, diagnostics to err.
type ui struct {
	out, err io.Writer
	in       io.Reader // standard input; nil means os.Stdin
}

func (u *ui) stdin() io.Reader {
	if u.in == nil {
		return os.Stdin
	}
	return u.in
}

func (u *ui) Output(s string) { fmt.Fprintln(u.out, s) }
func (u *ui) Error(s string)  { fmt.Fprintln(u.err, s) }

func commands(u *ui) map[string]command {
	return map[string]command{
		"agent":    &agentCommand{ui: u},
		"cleanup":  &cleanupCommand{ui: u},
		"plugin":   &pluginCommand{ui: u},
		"status":   &statusCommand{ui: u},
		"validate": &validateCommand{ui: u},
		"plan":     &planCommand{ui: u},
		"fmt":      &fmtCommand{ui: u},
		"import":   &importCommand{ui: u},
	}
}

func main() {
	// Nothing in vigil serves heap profiles; sampling them costs every
	// process a stack walk per 512 KiB allocated and the profile's tables.
	runtime.MemProfileRate = 0
	os.Exit(run(os.Args[1:], &ui{out: os.Stdout, err: os.Stderr}))
}

// run dispatches args (without the program name) and returns the exit code.
func run(args []string, u *ui) int {
	cmds := commands(u)
	if len(args) == 0 {
		u.Error(usage(cmds))
		return 1
	}
	switch name := args[0]; name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			if c, ok := cmds[args[1]]; ok {
				u.Output(c.Help())
				return 0
			}
		}
		u.Output(usage(cmds))
		return 0
	case "-v", "-version", "--version", "version":
		u.Output("vigil " + version)
		return 0
	default:
		c, ok := cmds[name]
		if !ok {
			names := make([]string, 0, len(cmds))
			for n := range cmds {
				names = append(names, n)
			}
			u.Error(fmt.Sprintf("vigil: unknown command %q.%s\n\n%s", name, policy.Suggest(name, names), usage(cmds)))
			return 1
		}
		if wantsHelp(args[1:]) {
			u.Output(c.Help())
			return 0
		}
		return c.Run(args[1:])
	}
}

// wantsHelp reports a help flag among the options (before any "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

func usage(cmds map[string]command) string {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("Usage: vigil [--version] [--help] <command> [<args>]\n\nAvailable commands are:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "    %-10s %s\n", n, cmds[n].Synopsis())
	}
	b.WriteString("\nvigil <command> -h shows a command's options.")
	return b.String()
}
