package main

import (
	"time"

	"github.com/vigil-ha/vigil/core/footprint"
	"github.com/vigil-ha/vigil/plugins/builtin"
)

// settleAfter is when a built-in plugin process has started, been
// configured and served its first calls.
const settleAfter = 10 * time.Second

type pluginCommand struct{ ui *ui }

func (c *pluginCommand) Synopsis() string { return "Serve a built-in plugin (started by the agent)" }
func (c *pluginCommand) Help() string {
	return `Usage: vigil plugin NAME
       vigil plugin --shared

  Serves built-in plugin NAME over go-plugin, or with --shared every
  built-in of the policy blocks that run as one user, each call going to
  its block's own instance. The agent runs this itself; there is no reason
  to run it by hand.`
}

func (c *pluginCommand) Run(args []string) int {
	if len(args) != 1 {
		c.ui.Error(c.Help())
		return 1
	}
	// Start-up is over once the agent has configured the plugin and made
	// its first calls; what only start-up needed is given back.
	time.AfterFunc(settleAfter, footprint.Settle)
	serve := builtin.Serve
	if args[0] == "--shared" {
		serve = func(string) error { return builtin.ServeShared() }
	}
	if err := serve(args[0]); err != nil {
		c.ui.Error(err.Error())
		return 1
	}
	return 0
}
