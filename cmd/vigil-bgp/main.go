// Command vigil-bgp is Vigil's BGP speaker (GoBGP), run by the agent in a
// process of its own on nodes whose policy announces service addresses
// over BGP, so that the agent and the nodes without BGP stay as small as
// they are. It reads what to announce on its standard input (core/bgp),
// reports its sessions on its standard output and logs on its standard
// error; when its input ends it withdraws its routes and exits. It is not
// meant to be run by hand.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/bgp/speaker"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "vigil-bgp takes no arguments: the vigil agent runs it (see docs/bgp.md)")
		os.Exit(2)
	}
	// The agent ends the speaker by closing its input; a SIGTERM (an
	// operator, or systemd's stop of the whole unit) is not a reason to
	// drop the sessions before the agent has handed its addresses over.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	log := hclog.New(&hclog.LoggerOptions{Name: "bgp", Output: os.Stderr, JSONFormat: true, Level: hclog.Info})
	if err := speaker.Run(context.Background(), os.Stdin, os.Stdout, log); err != nil {
		log.Error("BGP speaker ended with an error", "error", err)
		os.Exit(1)
	}
}
