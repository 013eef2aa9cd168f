package main

import "github.com/vigil-ha/vigil/plugins/builtin"

type pluginCommand struct{ ui *ui }

func (c *pluginCommand) Synopsis() string { return "Serve a built-in plugin (started by the agent)" }
func (c *pluginCommand) Help() string {
	return `Usage: vigil plugin NAME

  Serves built-in plugin NAME over go-plugin. The agent runs this itself,
  one process per plugin; there is no reason to run it by hand.`
}

func (c *pluginCommand) Run(args []string) int {
	if len(args) != 1 {
		c.ui.Error(c.Help())
		return 1
	}
	if err := builtin.Serve(args[0]); err != nil {
		c.ui.Error(err.Error())
		return 1
	}
	return 0
}
