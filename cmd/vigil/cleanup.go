package main

import (
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/core/engine"
	"github.com/vigil-ha/vigil/core/statefile"
)

type cleanupCommand struct{ ui *ui }

func (c *cleanupCommand) Synopsis() string {
	return "Remove the addresses and interfaces a dead agent left (run by the service manager)"
}
func (c *cleanupCommand) Help() string {
	return `Usage: vigil cleanup [--state-dir DIR] [--socket PATH]

  Removes the virtual addresses that an agent which died (SIGKILL, a crash)
  recorded in its state directory as added by itself, and nothing else:
  an address Vigil did not add is never in the record. So go its virtual
  MAC interfaces (use_vmac, restoring the ARP settings of their parents)
  and its accept mode rules (nftables table inet vigil). Sends no advert.
  A service manager runs it after the agent stopped (systemd's
  ExecStopPost); the next agent start does the same by itself.

  Refused while an agent answers on the status socket.

  --state-dir  the agent's state directory (default /var/lib/vigil)
  --socket     the agent's status socket (default ` + api.DefaultSocket + `)`
}

func (c *cleanupCommand) Run(args []string) int {
	fs := flagSet("cleanup", c.ui)
	stateDir := fs.String("state-dir", "/var/lib/vigil", "state directory")
	socket := fs.String("socket", api.DefaultSocket, "status socket")
	if err := parseInterleaved(fs, args); err != nil || fs.NArg() != 0 {
		c.ui.Error(c.Help())
		return 1
	}
	if _, err := api.Fetch(*socket); err == nil {
		c.ui.Error("an agent is running (it answers on " + *socket + "); stop it first: its addresses are its own to remove")
		return 1
	}
	if _, err := os.Stat(*stateDir); os.IsNotExist(err) {
		return 0 // no agent ever ran here
	}
	if err := statefile.CheckDir(*stateDir); err != nil {
		c.ui.Error(err.Error())
		return 1
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "vigil", Output: c.ui.err, TimeFormat: time.RFC3339})
	if err := engine.Recover(*stateDir, log); err != nil {
		c.ui.Error(err.Error())
		return 1
	}
	return 0
}
