// Command vigil is the Vigil daemon and its tools: one binary, one
// subcommand per job (see DESIGN.md's command-line contract).
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/cli"
)

var version = "dev"

func main() {
	c := cli.NewCLI("vigil", version)
	c.Args = os.Args[1:]
	ui := &cli.BasicUi{Reader: os.Stdin, Writer: os.Stdout, ErrorWriter: os.Stderr}
	c.Commands = map[string]cli.CommandFactory{
		"agent":    func() (cli.Command, error) { return &agentCommand{ui: ui}, nil },
		"plugin":   func() (cli.Command, error) { return &pluginCommand{ui: ui}, nil },
		"status":   func() (cli.Command, error) { return &statusCommand{ui: ui}, nil },
		"validate": func() (cli.Command, error) { return &validateCommand{ui: ui}, nil },
		"plan":     func() (cli.Command, error) { return &planCommand{ui: ui}, nil },
		"fmt":      func() (cli.Command, error) { return &fmtCommand{ui: ui}, nil },
		"import":   func() (cli.Command, error) { return &importCommand{ui: ui}, nil },
	}
	code, err := c.Run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil:", err)
		os.Exit(1)
	}
	os.Exit(code)
}
