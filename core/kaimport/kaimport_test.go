package kaimport_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/core/kaimport"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/plugins/builtin"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// seedConfs writes the seed's three keepalived.conf files (as meant: each
// node MASTER of one VIP) with the seed's check script next to them.
func seedConfs(t *testing.T) (dir string, nodes []kaimport.Node) {
	dir = t.TempDir()
	script, _ := filepath.Abs("testdata/nginx_check.sh")
	for _, n := range []string{"lb01", "lb02", "lb03"} {
		src, err := os.ReadFile("testdata/" + n + ".conf")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, n+".conf")
		os.WriteFile(p, []byte(strings.ReplaceAll(string(src), "SCRIPT", script)), 0o644)
		nodes = append(nodes, kaimport.Node{Name: n, Path: p})
	}
	return dir, nodes
}

func check(t *testing.T, golden string, out []byte, warnings []kaimport.Warning, dir string) {
	t.Helper()
	var b strings.Builder
	b.Write(out)
	b.WriteString("\n# warnings\n")
	for _, w := range warnings {
		b.WriteString("# " + w.String() + "\n")
	}
	got := strings.ReplaceAll(b.String(), dir, "DIR")
	if *update {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, _ := os.ReadFile(golden)
	if got != string(want) {
		t.Errorf("%s differs (go test -update to accept):\n%s", golden, got)
	}
	// What import writes must be a policy vigil accepts.
	_, _, diags := policy.Parse("imported.hcl", out, policy.Options{Builtins: builtin.Kinds()})
	if diags.HasErrors() {
		t.Errorf("imported policy has errors: %v", diags)
	}
}

// TestSeedSite: the seed's three files become one site: node blocks,
// priority maps, the nginx script as the nginx-process check, mail.
func TestSeedSite(t *testing.T) {
	dir, nodes := seedConfs(t)
	out, warnings, err := kaimport.Convert(nodes)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "testdata/seed-site.golden", out, warnings, dir)
	for _, want := range []string{`{ lb01 = 100, lb02 = 60, lb03 = 80 }`, `"nginx-process"`, `"nginx-action"`, `"smtp-notify"`, `start = ["/usr/local/nginx/sbin/nginx"]`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("site policy lacks %s", want)
		}
	}
}

// TestPerNodeFile: one file stays a per-node policy; unicast, sync groups,
// VIP options, excluded VIPs, track_interface weights, v3 sub-second
// intervals and what cannot be imported (LVS, weights on track_script).
func TestPerNodeFile(t *testing.T) {
	out, warnings, err := kaimport.Convert([]kaimport.Node{{Path: "testdata/unicast.conf"}})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "testdata/unicast.golden", out, warnings, "testdata")
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"open.conf":  "vrrp_instance VI_1 {\n  priority 100\n",
		"close.conf": "}\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(src), 0o644)
		if _, err := kaimport.Parse(p); err == nil {
			t.Errorf("%s parsed without error", name)
		}
	}
}

func TestNodeNameFromRouterID(t *testing.T) {
	if got := kaimport.NodeName("testdata/unicast.conf"); got != "db1" {
		t.Errorf("NodeName = %q, want db1", got)
	}
	// The seed's files set router_id twice; the last one counts.
	if got := kaimport.NodeName("testdata/lb03.conf"); got != "lb03" {
		t.Errorf("NodeName = %q, want lb03", got)
	}
}

// A number keepalived would refuse is carried over as written, for
// validation to refuse at its line; it used to become 0 silently.
func TestBadNumberIsNotZero(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keepalived.conf")
	os.WriteFile(p, []byte("global_defs {\n  vrrp_garp_master_repeat lots\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    192.0.2.10/24\n  }\n}\n"), 0o644)
	out, _, err := kaimport.Convert([]kaimport.Node{{Path: p}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `garp_master_repeat = "lots"`) || strings.Contains(string(out), "garp_master_repeat = 0") {
		t.Errorf("bad number imported as:\n%s", out)
	}
}
