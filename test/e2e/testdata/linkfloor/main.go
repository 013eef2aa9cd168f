// Command linkfloor links what the design card fixes for every Vigil
// process (go-plugin and its gRPC, hcl/v2) and then only waits: its RSS is
// the floor under the agent's, measured beside it by TestBenchmarkIdle.
package main

import (
	"os"
	"os/signal"
	"syscall"

	_ "github.com/hashicorp/go-plugin"
	_ "github.com/hashicorp/hcl/v2/gohcl"
	_ "github.com/hashicorp/hcl/v2/hclparse"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
}
