package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/engine"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/core/statefile"
)

type cleanupCommand struct{ ui *ui }

func (c *cleanupCommand) Synopsis() string {
	return "Remove the addresses and interfaces a dead agent left (run by the service manager)"
}
func (c *cleanupCommand) Help() string {
	return `Usage: vigil cleanup [--state-dir DIR] --policy FILE --node NAME

  Removes the virtual addresses that an agent which died (SIGKILL, a crash)
  recorded in its state directory as added by itself, and nothing else:
  an address Vigil did not add is never in the record. So go its virtual
  MAC interfaces (use_vmac, restoring the ARP settings of their parents)
  and its accept mode rules (nftables table inet vigil). Sends no advert.
  A service manager runs it after the agent stopped (systemd's
  ExecStopPost); the next agent start does the same by itself.

  Refused while an agent runs with that state directory (it holds the
  directory's lock). The record is checked against the policy: only an
  address an instance of this node could have added, never the node's
  own, and only its virtual MACs; a record from an earlier boot is
  ignored. Without a policy that loads, addresses and interfaces stay
  recorded (exit 1) for the next agent start to remove.

  --state-dir  the agent's state directory (default /var/lib/vigil)
  --policy     the policy the agent ran (default /etc/vigil/site.hcl)
  --node       this node's name in it (default: the short host name)
  --socket     accepted for older units, not used: the lock tells`
}

func (c *cleanupCommand) Run(args []string) int {
	fs := flagSet("cleanup", c.ui)
	stateDir := fs.String("state-dir", "/var/lib/vigil", "state directory")
	// Accepted as before, no longer used: the lock, not a socket that
	// anyone able to write its directory could fake, says whether an agent
	// runs.
	fs.String("socket", "", "ignored")
	pol := fs.String("policy", "/etc/vigil/site.hcl", "the policy the agent ran")
	node := fs.String("node", "", "this node's name in the policy")
	if err := parseInterleaved(fs, args); err != nil || fs.NArg() != 0 {
		c.ui.Error(c.Help())
		return 1
	}
	if _, err := os.Stat(*stateDir); os.IsNotExist(err) {
		return 0 // no agent ever ran here
	}
	if err := statefile.CheckDir(*stateDir); err != nil {
		c.ui.Error(err.Error())
		return 1
	}
	lock, err := statefile.Lock(*stateDir)
	if errors.Is(err, statefile.ErrLocked) {
		c.ui.Error("an agent is running with " + *stateDir + "; stop it first: its addresses are its own to remove")
		return 1
	} else if err != nil {
		c.ui.Error(err.Error())
		return 1
	}
	defer lock.Close()
	log := hclog.New(&hclog.LoggerOptions{Name: "vigil", Output: c.ui.err, TimeFormat: time.RFC3339})
	scope, err := cleanupScope(*pol, *node)
	if err != nil {
		log.Warn("no policy to check the record against: addresses and interfaces stay recorded", "error", err)
	}
	if err := engine.Recover(*stateDir, scope, log); err != nil {
		c.ui.Error(err.Error())
		return 1
	}
	return 0
}

// cleanupScope is what the policy's instances may have added on node.
func cleanupScope(path, node string) (*engine.Scope, error) {
	if node == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, err
		}
		node, _, _ = strings.Cut(h, ".")
	}
	site, _, diags := policy.Load(path, loadOptions(false))
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s: %s", path, diags.Error())
	}
	cfg, err := site.Config(node)
	if err != nil {
		return nil, err
	}
	return engine.NewScope(cfg), nil
}
