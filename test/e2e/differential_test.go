package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// diffCase is one keepalived site of the differential corpus
// (testdata/keepalived/NAME/nK.conf) and the faults run on it.
type diffCase struct {
	name  string
	nodes int
	vips  []string
	steps []string // "cut n1", "restore n1", "stop n1", "start n1", "fail n1", "heal n1"
	// quiet is how long the owners must not change for a step to be over:
	// past the longest master-down interval after the step's event.
	quiet time.Duration
}

var diffCorpus = []diffCase{
	{"pair-weights", 2, []string{"192.0.2.141", "192.0.2.142"},
		[]string{"fail n1", "heal n1", "fail n2", "heal n2", "stop n1", "start n1", "cut n2", "restore n2"}, 2 * time.Second},
	{"pair-unicast", 2, []string{"192.0.2.151"},
		[]string{"stop n1", "start n1", "cut n1", "restore n1"}, 4500 * time.Millisecond},
	{"pair-syncgroup", 2, []string{"192.0.2.171", "198.51.100.172"},
		[]string{"fail n1", "heal n1", "stop n1", "start n1"}, 2 * time.Second},
	{"pair-ipv6", 2, []string{"2001:db8::181"},
		[]string{"stop n1", "start n1", "cut n1", "restore n1"}, 2 * time.Second},
	{"trio-interfaces", 3, []string{"192.0.2.161", "192.0.2.162", "192.0.2.163"},
		[]string{"cut n1", "restore n1", "stop n2", "start n2", "cut n3", "restore n3"}, 2 * time.Second},
}

// TestDifferentialElections: for each site of the corpus, keepalived on
// every node, then Vigil on every node running what `vigil import` made of
// the same files, then the two mixed, go through the same faults; after
// each, the same node must hold each VIP (issue 15).
func TestDifferentialElections(t *testing.T) {
	lab.Require(t, "keepalived")
	for _, dc := range diffCorpus {
		t.Run(dc.name, func(t *testing.T) {
			want := runDiff(t, dc, func(int) bool { return false })
			for _, mix := range []struct {
				name  string
				vigil func(i int) bool
			}{{"vigil", func(int) bool { return true }}, {"mixed", func(i int) bool { return i%2 == 1 }}} {
				got := runDiff(t, dc, mix.vigil)
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("%s, %s: owners %s, keepalived alone %s", mix.name, stepName(dc, i), got[i], want[i])
					}
				}
			}
			t.Logf("owners after each step: %v", want)
		})
	}
}

func stepName(dc diffCase, i int) string {
	if i == 0 {
		return "after start"
	}
	return "after " + dc.steps[i-1]
}

// runDiff starts the site, keepalived on nodes where vigil(i) is false and
// Vigil on the others, runs the steps and returns the owners after start
// and after each step.
func runDiff(t *testing.T, dc diffCase, vigil func(i int) bool) []string {
	t.Helper()
	l := lab.New(t, dc.nodes)
	flags := t.TempDir()
	os.Chmod(flags, 0o755)
	confs := make([]string, dc.nodes)
	var importArgs []string
	for i := range dc.nodes {
		src, err := os.ReadFile(filepath.Join("testdata", "keepalived", dc.name, fmt.Sprintf("n%d.conf", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		confs[i] = strings.ReplaceAll(string(src), "FLAGDIR", flags)
		p := filepath.Join(l.Dir, fmt.Sprintf("n%d.conf", i+1))
		os.WriteFile(p, []byte(confs[i]), 0o644)
		importArgs = append(importArgs, "--node", fmt.Sprintf("n%d=%s", i+1, p))
	}
	imported, err := exec.Command(vigilBin, append([]string{"import"}, importArgs...)...).Output()
	if err != nil {
		t.Fatalf("vigil import: %v", err)
	}
	pol := filepath.Join(l.Dir, "site.hcl")
	os.WriteFile(pol, imported, 0o644)
	procs := make([]*lab.Proc, dc.nodes)
	start := func(i int) {
		if vigil(i) {
			procs[i] = startVigil(t, l, l.Nodes[i], pol).Proc
		} else {
			procs[i] = l.Nodes[i].StartKeepalived(confs[i])
		}
	}
	for i := range dc.nodes {
		start(i)
	}
	owners := func() string {
		var parts []string
		for _, v := range dc.vips {
			parts = append(parts, v+"="+strings.Join(holders(l, netip.MustParseAddr(v)), "+"))
		}
		return strings.Join(parts, " ")
	}
	// settled waits until the owners have not changed for the case's
	// quiet time, at most 20 s. A check that fails takes up to its
	// interval (1 s) to be seen, then a master-down interval.
	settled := func() string {
		last, since := owners(), time.Now()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if now := owners(); now != last {
				last, since = now, time.Now()
			}
			if time.Since(since) >= dc.quiet {
				break
			}
		}
		return last
	}
	out := []string{settled()}
	for _, step := range dc.steps {
		verb, node, _ := strings.Cut(step, " ")
		i := slices.IndexFunc(l.Nodes, func(n *lab.Node) bool { return n.Name == node })
		n := l.Nodes[i]
		switch verb {
		case "cut":
			n.CutLink()
		case "restore":
			n.RestoreLink()
		case "stop":
			procs[i].Stop(syscall.SIGTERM, 10*time.Second)
		case "start":
			start(i)
		case "fail":
			os.WriteFile(filepath.Join(flags, "fail-"+n.NS), nil, 0o644)
		case "heal":
			os.Remove(filepath.Join(flags, "fail-"+n.NS))
		default:
			t.Fatalf("unknown step %q", step)
		}
		out = append(out, settled())
	}
	for _, p := range procs {
		if p != nil && p.Running() {
			p.Stop(syscall.SIGTERM, 10*time.Second)
		}
	}
	return out
}
