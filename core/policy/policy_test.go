package policy_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/core/vrrp"
)

var update = flag.Bool("update", false, "rewrite golden files")

var kinds = map[string]string{"nginx-process": "check", "http-probe": "check", "smtp-notify": "notifier", "nginx-action": "action"}

func opts() policy.Options {
	return policy.Options{Builtins: kinds}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestBadPolicies: each file in testdata/bad is wrong in one way (or, for
// many-errors, in many), and its diagnostics are pinned in a golden file.
// Every diagnostic must carry file:line:col and a detail saying what to do.
func TestBadPolicies(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.hcl")
	if len(files) < 25 {
		t.Fatalf("want at least 25 bad-policy cases, have %d", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, srcs, diags := policy.Load(path, opts())
			if len(diags) == 0 {
				t.Fatal("no diagnostics for a bad policy")
			}
			for _, d := range diags {
				if d.Subject == nil || d.Subject.Start.Line == 0 {
					t.Errorf("diagnostic without a source position: %s", d.Summary)
				}
				if d.Detail == "" {
					t.Errorf("diagnostic without a detail: %s", d.Summary)
				}
			}
			var buf bytes.Buffer
			policy.WriteDiagnostics(&buf, srcs, diags)
			golden(t, strings.TrimSuffix(path, ".hcl")+".golden", buf.Bytes())
		})
	}
}

func TestManyErrorsReportedAtOnce(t *testing.T) {
	_, _, diags := policy.Load("testdata/bad/many-errors.hcl", opts())
	if n := len(diags.Errs()); n < 6 {
		t.Errorf("got %d errors, want every one of the six problems: %v", n, diags)
	}
}

func TestExamplePoliciesValidateClean(t *testing.T) {
	for _, path := range []string{"../../policies/sgcc-lb.hcl", "../../policies/sgcc-lb-bgp.hcl", "../../policies/demo.hcl"} {
		site, _, diags := policy.Load(path, opts())
		if len(diags) != 0 || site == nil {
			t.Errorf("%s: %v", path, diags)
		}
	}
}

func TestSeedSiteResolves(t *testing.T) {
	site, _, diags := policy.Load("../../policies/sgcc-lb.hcl", opts())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c, err := site.Config("lb03")
	if err != nil {
		t.Fatal(err)
	}
	if c.RouterID != "lb03" || c.Site != "sgcc-lb" || len(c.Instances) != 3 {
		t.Fatalf("lb03 config: %+v", c)
	}
	vi3 := c.Instances[2]
	want := config.Instance{
		Name: "VI_3", Interface: "ens192", VRID: 23, Version: vrrp.V2, Interval: time.Second, Priority: 100,
		Preempt: true, Auth: config.Auth{Type: vrrp.AuthPass, Password: [8]byte{'1', '3', '2', '2'}},
		SourceAddr: netip.MustParseAddr("10.2.61.23"),
		Track:      []config.TrackCheck{{Check: "nginx", Weight: -25}},
		Notify:     []string{"ops-mail"},
		GARP:       config.GARP{MasterDelay: 5 * time.Second, MasterRepeat: 5},
	}
	if vi3.Name != want.Name || vi3.Interface != want.Interface || vi3.VRID != want.VRID || vi3.Version != want.Version ||
		vi3.Interval != want.Interval || vi3.Priority != want.Priority || vi3.Preempt != want.Preempt || vi3.Auth != want.Auth ||
		vi3.SourceAddr != want.SourceAddr || vi3.GARP != want.GARP || len(vi3.Track) != 1 || vi3.Track[0] != want.Track[0] ||
		len(vi3.Notify) != 1 || vi3.Notify[0] != "ops-mail" {
		t.Errorf("VI_3 on lb03:\n got %+v\nwant %+v", vi3, want)
	}
	if len(vi3.VIPs) != 1 || vi3.VIPs[0].Prefix != netip.MustParsePrefix("10.2.61.26/24") {
		t.Errorf("VIPs %+v", vi3.VIPs)
	}
	if len(vi3.Peers) != 2 || vi3.Peers[0] != (config.Peer{Node: "lb01", Priority: 60, MaxPriority: 60, Addr: netip.MustParseAddr("10.2.61.21")}) {
		t.Errorf("peers %+v", vi3.Peers)
	}
	if len(c.Checks) != 1 || c.Checks[0].Interval != 4*time.Second || c.Checks[0].Timeout != 4*time.Second || c.Checks[0].Rise != 1 {
		t.Errorf("checks %+v", c.Checks)
	}
	var cfg map[string]any
	if err := json.Unmarshal(c.Checks[0].Config.JSON, &cfg); err != nil || cfg["pid_file"] != "/run/nginx.pid" {
		t.Errorf("check config %s: %v", c.Checks[0].Config.JSON, err)
	}
	if len(c.Actions) != 1 || strings.Join(c.Actions[0].Instances, ",") != "VI_1,VI_2,VI_3" {
		t.Errorf("action instances default to those tracking the check: %+v", c.Actions)
	}
	if _, err := site.Config("lb04"); err == nil || !strings.Contains(err.Error(), `no node "lb04"`) {
		t.Errorf("unknown node: %v", err)
	}
}

// TestKeepalivedShape: a per-node file (no node blocks, plain priority) is a
// policy too, as a migrated keepalived.conf would be.
func TestKeepalivedShape(t *testing.T) {
	src := `
site "lb" {
  router_id = "lb01"
}

instance "VI_1" {
  interface       = "eth0"
  vrid            = 51
  priority        = 150
  advert_interval = "2s"
  vips            = ["192.0.2.151/24"]
  unicast_peers   = ["192.0.2.22"]
  preempt         = false

  auth {
    type     = "pass"
    password = "12345678"
  }
}
`
	site, _, diags := policy.Parse("lb01.hcl", []byte(src), opts())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c, err := site.Config("anything")
	if err != nil {
		t.Fatal(err)
	}
	in := c.Instances[0]
	if !site.PerNode || c.RouterID != "lb01" || in.Priority != 150 || in.Preempt || in.Interval != 2*time.Second ||
		len(in.UnicastPeers) != 1 || in.PreemptDelay != 0 || len(in.Peers) != 0 {
		t.Errorf("per-node config: %+v %+v", c, in)
	}
}

func TestDefaults(t *testing.T) {
	src := `
instance "VI_1" {
  interface = "eth0"
  vrid      = 1
  vips      = ["192.0.2.1/24"]
}
`
	site, _, diags := policy.Parse("min.hcl", []byte(src), opts())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c, _ := site.Config("")
	in := c.Instances[0]
	// keepalived's defaults: version 2, advert_int 1, priority 100, preempt,
	// garp_master_delay 5, garp_master_repeat 5.
	if in.Version != vrrp.V2 || in.Interval != time.Second || in.Priority != 100 || !in.Preempt ||
		in.GARP.MasterDelay != 5*time.Second || in.GARP.MasterRepeat != 5 || c.PluginUser != "vigil-plugin" || c.StartupDelay != 0 {
		t.Errorf("defaults: %+v %+v", c, in)
	}
}

func TestPlanGolden(t *testing.T) {
	for _, c := range []struct{ file, golden string }{
		{"../../policies/sgcc-lb.hcl", "testdata/plan-sgcc-lb.golden"},
		{"../../policies/testdata/seed-as-written.hcl", "testdata/plan-seed-as-written.golden"},
	} {
		site, _, diags := policy.Load(c.file, opts())
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		var buf bytes.Buffer
		site.Plan("").WriteText(&buf)
		golden(t, c.golden, buf.Bytes())
	}
}

// TestPlanSeed checks the facts the seed report states, not just the text.
func TestPlanSeed(t *testing.T) {
	site, _, _ := policy.Load("../../policies/sgcc-lb.hcl", opts())
	p := site.Plan("")
	owners := map[string]string{}
	for _, ip := range p.Instances {
		owners[ip.Name] = ip.Order[0].Node + "/" + ip.Order[1].Node + "/" + ip.Order[2].Node
	}
	if owners["VI_1"] != "lb01/lb03/lb02" || owners["VI_2"] != "lb02/lb01/lb03" || owners["VI_3"] != "lb03/lb02/lb01" {
		t.Errorf("active-active-active order: %v", owners)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("the corrected seed site draws warnings: %v", p.Warnings)
	}
	for _, f := range p.Instances[0].Failures {
		if f.Event == "check nginx fails on lb01" && (f.Owner != "lb03" || !f.Moves) {
			t.Errorf("nginx failing on lb01 should move VI_1 to lb03 (100-25 < 80): %+v", f)
		}
	}

	bad, _, _ := policy.Load("../../policies/testdata/seed-as-written.hcl", opts())
	w := strings.Join(bad.Plan("").Warnings, "\n")
	for _, want := range []string{"VI_3 has no node at the site's top priority 100", "VI_2: nodes lb03 and lb02 claim it at priority 100", `share router id "lb02"`, "node lb02 is master of nothing"} {
		if !strings.Contains(w, want) {
			t.Errorf("seed as written: no warning %q in\n%s", want, w)
		}
	}
}

func TestPlanJSON(t *testing.T) {
	site, _, _ := policy.Load("../../policies/sgcc-lb.hcl", opts())
	b, err := json.Marshal(site.Plan("lb02"))
	if err != nil {
		t.Fatal(err)
	}
	var back policy.Plan
	if err := json.Unmarshal(b, &back); err != nil || len(back.Instances) != 3 || back.Instances[1].Order[0].Node != "lb02" {
		t.Errorf("plan JSON round trip: %v %s", err, b)
	}
}

// TestReferenceDoc keeps docs/policy.md generated from the schema.
func TestReferenceDoc(t *testing.T) {
	golden(t, "../../docs/policy.md", []byte(policy.Reference()))
}

// TestPluginUserMustExist: a plugin user that does not exist fails at policy
// load, naming the user, not when a check first runs.
func TestPluginUserMustExist(t *testing.T) {
	src := `
site "s" {
  plugin_user = "vigil-nobody-here"
}

instance "VI_1" {
  interface = "eth0"
  vrid      = 1
  vips      = ["192.0.2.1/24"]
  track     = ["web"]
}

check "web" {
  plugin = "http-probe"
  weight = -20
}
`
	o := opts()
	o.UserExists = func(name string) bool { return name == "nobody" }
	_, _, diags := policy.Parse("u.hcl", []byte(src), o)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `No local user "vigil-nobody-here"`) {
		t.Fatalf("got %v", diags)
	}
	ok := strings.Replace(src, "vigil-nobody-here", "nobody", 1)
	if _, _, diags := policy.Parse("u.hcl", []byte(ok), o); diags.HasErrors() {
		t.Fatalf("existing user refused: %v", diags)
	}
}

// TestSyncGroup: weights inside a sync group become faults (with a
// warning, as keepalived ignores them), and plan moves the whole group.
func TestSyncGroup(t *testing.T) {
	src := `
node "a" {
  interface = "eth0"
  address   = "192.0.2.1"
}
node "b" {
  interface = "eth0"
  address   = "192.0.2.2"
}
instance "EXT" {
  vrid     = 1
  vips     = ["192.0.2.101/24"]
  priority = { a = 100, b = 80 }
  track    = ["web"]
}
instance "INT" {
  vrid     = 2
  vips     = ["198.51.100.1/24"]
  priority = { a = 100, b = 80 }
}
sync_group "G" {
  instances = ["EXT", "INT"]
}
check "web" {
  plugin = "http-probe"
  weight = -50
  config {
    url = "http://127.0.0.1/"
  }
}
`
	site, _, diags := policy.Parse("sync.hcl", []byte(src), opts())
	if diags.HasErrors() || len(diags) != 1 || diags[0].Summary != "Weights ignored in a sync group" {
		t.Fatalf("diagnostics: %v", diags)
	}
	cfg, err := site.Config("a")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Instances[0].SyncGroup != "G" || !cfg.Instances[0].Track[0].Fault {
		t.Errorf("EXT on a: %+v", cfg.Instances[0])
	}
	var b strings.Builder
	site.Plan("").WriteText(&b)
	for _, want := range []string{"check web fails on a", "a goes to FAULT with its sync group G; b takes over at 80"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
}

// TestMetricsListen: a bare port means localhost, host:port is kept, a
// wildcard is warned about, anything else is an error at the attribute.
func TestMetricsListen(t *testing.T) {
	for _, tc := range []struct{ value, want, diag string }{
		{"9650", "127.0.0.1:9650", ""},
		{"192.0.2.1:9650", "192.0.2.1:9650", ""},
		{"[2001:db8::1]:9650", "[2001:db8::1]:9650", ""},
		{":9650", ":9650", "Metrics on every address"},
		{"localhost", "", "u.hcl:3,20-31: Invalid listen address"},
		{"127.0.0.1:99999", "", "Invalid listen address"},
	} {
		src := fmt.Sprintf(`
site "s" {
  metrics_listen = %q
}

instance "VI_1" {
  interface = "eth0"
  vrid      = 1
  vips      = ["192.0.2.1/24"]
}
`, tc.value)
		site, _, diags := policy.Parse("u.hcl", []byte(src), opts())
		if tc.diag != "" && !strings.Contains(diags.Error(), tc.diag) {
			t.Errorf("%q: diagnostics %q, want %q", tc.value, diags.Error(), tc.diag)
		}
		if diags.HasErrors() {
			if tc.want != "" {
				t.Errorf("%q: %v", tc.value, diags)
			}
			continue
		}
		cfg, err := site.Config("")
		if err != nil || cfg.MetricsListen != tc.want {
			t.Errorf("%q: listen %q (%v), want %q", tc.value, cfg.MetricsListen, err, tc.want)
		}
	}
}

// TestSiteShapeChecks: two nodes with one address are an error naming
// both; a policy without instances validates with a warning.
func TestSiteShapeChecks(t *testing.T) {
	dup := `
node "a" {
  interface = "eth0"
  address   = "192.0.2.11"
}

node "b" {
  interface = "eth0"
  address   = "192.0.2.11"
}

instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.100/24"]
  priority = { a = 100, b = 90 }
}
`
	_, _, diags := policy.Parse("dup.hcl", []byte(dup), opts())
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `dup.hcl:9,15-27: Duplicate node address; node "b" has address 192.0.2.11, which node "a" already has at dup.hcl:4`) {
		t.Errorf("duplicate address: %v", diags)
	}
	_, _, diags = policy.Parse("empty.hcl", []byte("site \"s\" {}\n"), opts())
	if diags.HasErrors() || !strings.Contains(diags.Error(), "No instances") {
		t.Errorf("empty policy: %v", diags)
	}
}

// TestTrackPerNode: track as a map tracks a check on the nodes it names
// only (the seed's nodes each track nginx in the instance they are master
// of), and an action that names no instances yields, on each node, those
// that track its check there.
func TestTrackPerNode(t *testing.T) {
	src := `
node "a" {
  interface = "eth0"
}
node "b" {
  interface = "eth0"
}
instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.101/32"]
  priority = { a = 100, b = 80 }
  track    = { a = ["web"] }
}
instance "VI_2" {
  vrid     = 2
  vips     = ["192.0.2.102/32"]
  priority = { a = 80, b = 100 }
  track    = { a = [], b = ["web"] }
}
instance "VI_3" {
  vrid     = 3
  vips     = ["192.0.2.103/32"]
  priority = { a = 80, b = 100 }
  track    = ["web"]
}
check "web" {
  plugin = "http-probe"
  weight = -25
  config {
    url = "http://127.0.0.1/"
  }
}
action "restart" {
  plugin = "nginx-action"
  when   = "web"
}
`
	site, _, diags := policy.Parse("track.hcl", []byte(src), opts())
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
	want := map[string]map[string]int{"a": {"VI_1": 1, "VI_2": 0, "VI_3": 1}, "b": {"VI_1": 0, "VI_2": 1, "VI_3": 1}}
	wantActs := map[string][]string{"a": {"VI_1", "VI_3"}, "b": {"VI_2", "VI_3"}}
	for node, insts := range want {
		cfg, err := site.Config(node)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range cfg.Instances {
			if len(in.Track) != insts[in.Name] {
				t.Errorf("%s on %s tracks %v, want %d checks", in.Name, node, in.Track, insts[in.Name])
			}
		}
		if len(cfg.Actions) != 1 || !slices.Equal(cfg.Actions[0].Instances, wantActs[node]) {
			t.Errorf("actions on %s: %+v, want instances %v", node, cfg.Actions, wantActs[node])
		}
	}
	var b strings.Builder
	site.Plan("").WriteText(&b)
	if !strings.Contains(b.String(), "check web fails on a") {
		t.Errorf("plan:\n%s", b.String())
	}
	for _, bad := range []struct{ track, summary string }{
		{`{ c = ["web"] }`, "Unknown node"},
		{`{ a = "web" }`, "Invalid track"},
		{`{ a = ["nope"] }`, "Unknown check"},
		{`"web"`, "Invalid track"},
	} {
		_, _, diags := policy.Parse("track.hcl", []byte(strings.Replace(src, `track    = { a = ["web"] }`, "track = "+bad.track, 1)), opts())
		if !diags.HasErrors() || !strings.Contains(diags.Error(), bad.summary) {
			t.Errorf("track = %s: %v, want %q", bad.track, diags, bad.summary)
		}
	}
}

// TestAcceptMode: keepalived's defaults: accept unless strict, where only
// the owner (priority 255) accepts; accept overrides either way.
func TestAcceptMode(t *testing.T) {
	for _, c := range []struct {
		site, inst string
		prioA      int // a is the owner unless said otherwise (accept = false is refused there)
		want       map[string]bool
	}{
		{"", "", 255, map[string]bool{"a": true, "b": true}},
		{"strict = true", "", 255, map[string]bool{"a": true, "b": false}},
		{"strict = true", "accept = true", 255, map[string]bool{"a": true, "b": true}},
		{"", "accept = false", 200, map[string]bool{"a": false, "b": false}},
		{"strict = true", "strict = false", 255, map[string]bool{"a": true, "b": true}},
	} {
		src := fmt.Sprintf(`
site "s" {
  %s
}
node "a" {
  interface = "eth0"
}
node "b" {
  interface = "eth0"
}
instance "VI_1" {
  vrid     = 1
  version  = 3
  vips     = ["192.0.2.24/24"]
  priority = { a = %d, b = 100 }
  %s
}
`, c.site, c.prioA, c.inst)
		site, _, diags := policy.Parse("accept.hcl", []byte(src), opts())
		if diags.HasErrors() {
			t.Fatalf("%s / %s: %v", c.site, c.inst, diags)
		}
		for node, want := range c.want {
			cfg, _ := site.Config(node)
			if got := cfg.Instances[0].Accept; got != want {
				t.Errorf("%q / %q: accept on %s = %v, want %v", c.site, c.inst, node, got, want)
			}
		}
	}
}

// TestReverse: keepalived's "weight ... reverse" reaches the priority
// rules for checks and interfaces, and turns the priority range around.
func TestReverse(t *testing.T) {
	src := `
check "drain" {
  plugin  = "http-probe"
  weight  = 20
  reverse = true

  config {
    url = "http://192.0.2.1/"
  }
}

instance "VI_1" {
  interface = "eth0"
  vrid      = 1
  vips      = ["192.0.2.1/24"]
  track     = ["drain"]

  track_interface {
    name    = "eth1"
    weight  = -30
    reverse = true
  }
}
`
	site, _, diags := policy.Parse("reverse.hcl", []byte(src), opts())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c, _ := site.Config("")
	in := c.Instances[0]
	if len(in.Track) != 1 || !in.Track[0].Reverse || len(in.TrackIfs) != 1 || !in.TrackIfs[0].Reverse {
		t.Fatalf("reverse lost: %+v %+v", in.Track, in.TrackIfs)
	}
	// passing drain subtracts 20; eth1 down adds 30: 80..130, clamped to 254 at most.
	if got := in.MaxPriority(); got != 130 {
		t.Errorf("max priority %d, want 130", got)
	}
}

// TestExcludedOtherFamily: excluded addresses are not advertised, so, as
// in keepalived, they may be of the other family (the import refused
// such sites).
func TestExcludedOtherFamily(t *testing.T) {
	src := `
instance "VI_1" {
  interface     = "eth0"
  vrid          = 1
  vips          = ["192.0.2.1/24"]
  excluded_vips = ["2001:db8::1/64"]
}
`
	site, _, diags := policy.Parse("excluded.hcl", []byte(src), opts())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c, _ := site.Config("")
	if ex := c.Instances[0].ExcludedVIPs; len(ex) != 1 || !ex[0].Prefix.Addr().Is6() {
		t.Errorf("excluded %+v", ex)
	}
}

// TestPeerTTL: keepalived's min_ttl / max_ttl as unicast_min_ttl /
// unicast_max_ttl, unicast only, in range, not empty.
func TestPeerTTL(t *testing.T) {
	inst := func(attrs string) string {
		return "instance \"VI_1\" {\n  interface = \"eth0\"\n  vrid = 1\n  vips = [\"192.0.2.1/24\"]\n" + attrs + "\n}\n"
	}
	for _, c := range []struct {
		name, attrs, err string
		want             vrrp.TTLRange
	}{
		{"default: 255 only", `unicast_peers = ["192.0.2.2"]`, "", vrrp.TTLRange{}},
		{"min only", "unicast_peers = [\"192.0.2.2\"]\n unicast_min_ttl = 250", "", vrrp.TTLRange{Min: 250, Max: 255}},
		{"both", "unicast_peers = [\"192.0.2.2\"]\n unicast_min_ttl = 1\n unicast_max_ttl = 64", "", vrrp.TTLRange{Min: 1, Max: 64}},
		{"multicast", "unicast_min_ttl = 250", "TTL range without unicast", vrrp.TTLRange{}},
		{"out of range", "unicast_peers = [\"192.0.2.2\"]\n unicast_max_ttl = 256", "TTL out of range", vrrp.TTLRange{}},
		{"empty", "unicast_peers = [\"192.0.2.2\"]\n unicast_min_ttl = 200\n unicast_max_ttl = 100", "Empty TTL range", vrrp.TTLRange{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			site, _, diags := policy.Parse("ttl.hcl", []byte(inst(c.attrs)), opts())
			if c.err != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), c.err) {
					t.Fatalf("want %q, got %v", c.err, diags)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			cfg, _ := site.Config("")
			if got := cfg.Instances[0].PeerTTL; got != c.want {
				t.Errorf("range %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestSourceAddress: keepalived's mcast_src_ip / unicast_src_ip in a
// per-node file; a site sets node addresses instead.
func TestSourceAddress(t *testing.T) {
	inst := "instance \"VI_1\" {\n  interface = \"eth0\"\n  vrid = 1\n  vips = [\"192.0.2.1/24\"]\n  source_address = %q\n}\n"
	site, _, diags := policy.Parse("src.hcl", []byte(fmt.Sprintf(inst, "192.0.2.21")), opts())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c, _ := site.Config("")
	if got := c.Instances[0].SourceAddr; got != netip.MustParseAddr("192.0.2.21") {
		t.Errorf("source %v", got)
	}
	for _, c := range []struct{ src, pre, err string }{
		{"2001:db8::21", "", "Source address of the wrong family"},
		{"lb01", "", "Invalid source address"},
		{"192.0.2.21", "node \"lb01\" {\n  address = \"192.0.2.21\"\n}\n", "source_address in a site"},
	} {
		_, _, diags := policy.Parse("src.hcl", []byte(c.pre+fmt.Sprintf(inst, c.src)), opts())
		if !diags.HasErrors() || !strings.Contains(diags.Error(), c.err) {
			t.Errorf("%s: want %q, got %v", c.src, c.err, diags)
		}
	}
}

// TestPreemptPerNode: preempt as a map of node to bool, for sites whose
// nodes differ (keepalived clears nopreempt where state is MASTER).
func TestPreemptPerNode(t *testing.T) {
	nodes := "node \"lb01\" {\n  interface = \"eth0\"\n}\nnode \"lb02\" {\n  interface = \"eth0\"\n}\nnode \"lb03\" {\n  interface = \"eth0\"\n}\n"
	inst := "instance \"VI_1\" {\n  vrid = 1\n  vips = [\"192.0.2.1/24\"]\n  priority = { lb01 = 100, lb02 = 90, lb03 = 80 }\n  preempt = %s\n}\n"
	site, _, diags := policy.Parse("p.hcl", []byte(nodes+fmt.Sprintf(inst, "{ lb02 = false, lb03 = false }")), opts())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for node, want := range map[string]bool{"lb01": true, "lb02": false, "lb03": false} {
		c, _ := site.Config(node)
		if got := c.Instances[0].Preempt; got != want {
			t.Errorf("%s preempts %v, want %v", node, got, want)
		}
	}
	for _, c := range []struct{ src, err string }{
		{nodes + fmt.Sprintf(inst, "{ lb09 = false }"), "lb09"},
		{nodes + fmt.Sprintf(inst, "\"no\""), "Invalid preempt"},
		{strings.Replace(fmt.Sprintf(inst, "{ lb01 = false }"), "priority = { lb01 = 100, lb02 = 90, lb03 = 80 }", "interface = \"eth0\"", 1), "No node blocks"},
	} {
		if _, _, diags := policy.Parse("p.hcl", []byte(c.src), opts()); !diags.HasErrors() || !strings.Contains(diags.Error(), c.err) {
			t.Errorf("want %q, got %v", c.err, diags)
		}
	}
}

// TestRoutesAndRules: keepalived's virtual_routes and virtual_rules as
// route and rule blocks, and their refusals.
func TestRoutesAndRules(t *testing.T) {
	inst := "instance \"VI_1\" {\n  interface = \"eth0\"\n  vrid = 1\n  vips = [\"192.0.2.1/24\"]\n%s\n}\n"
	src := fmt.Sprintf(inst, `
  route {
    to     = "198.51.100.7/24"
    via    = "192.0.2.254"
    src    = "192.0.2.1"
    table  = 100
    metric = 10
  }
  route {
    to   = "default"
    type = "blackhole"
  }
  rule {
    from     = "192.0.2.1"
    table    = 100
    priority = 1000
    fwmark   = "0x10/0xff"
  }`)
	site, _, diags := policy.Parse("routes.hcl", []byte(src), opts())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c, _ := site.Config("")
	in := c.Instances[0]
	want := []string{"198.51.100.0/24 via 192.0.2.254 src 192.0.2.1 table 100 metric 10", "blackhole 0.0.0.0/0"}
	if len(in.Routes) != 2 || in.Routes[0].String() != want[0] || in.Routes[1].String() != want[1] {
		t.Errorf("routes %v, want %q", in.Routes, want)
	}
	if len(in.Rules) != 1 || in.Rules[0].String() != "priority 1000 from 192.0.2.1/32 fwmark 0x10/0xff table 100" {
		t.Errorf("rules %v", in.Rules)
	}
	for _, c := range []struct{ block, err string }{
		{"route {\n to = \"nowhere\"\n}", "Invalid route destination"},
		{"route {\n to = \"198.51.100.0/24\"\n via = \"2001:db8::1\"\n}", "Route of two families"},
		{"route {\n to = \"198.51.100.0/24\"\n type = \"blackhole\"\n via = \"192.0.2.254\"\n}", "no next hop"},
		{"route {\n to = \"198.51.100.0/24\"\n type = \"anycast\"\n}", "Invalid route type"},
		{"rule {\n from = \"192.0.2.1\"\n to = \"2001:db8::/32\"\n table = 1\n}", "Rule of two families"},
		{"rule {\n table = 0\n}", "Rule number out of range"},
		{"rule {\n table = 1\n fwmark = \"lots\"\n}", "Invalid fwmark"},
	} {
		_, _, diags := policy.Parse("routes.hcl", []byte(fmt.Sprintf(inst, c.block)), opts())
		if !diags.HasErrors() || !strings.Contains(diags.Error(), c.err) {
			t.Errorf("%s: want %q, got %v", c.block, c.err, diags)
		}
	}
}

// TestNotifierNodes: a notifier with nodes is used on those nodes only
// (keepalived sites run different notify scripts per node).
func TestNotifierNodes(t *testing.T) {
	src := `
node "lb01" {
  interface = "eth0"
}
node "lb02" {
  interface = "eth0"
}
notifier "mail" {
  plugin = "smtp-notify"
}
notifier "mail_lb02" {
  plugin = "smtp-notify"
  nodes  = ["lb02"]
}
instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.1/24"]
  priority = { lb01 = 100, lb02 = 90 }
  notify   = ["mail", "mail_lb02"]
}
`
	site, _, diags := policy.Parse("n.hcl", []byte(src), opts())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for node, want := range map[string]int{"lb01": 1, "lb02": 2} {
		c, _ := site.Config(node)
		if len(c.Notifiers) != want || len(c.Instances[0].Notify) != want {
			t.Errorf("%s: notifiers %v, VI_1 notifies %v; want %d", node, c.Notifiers, c.Instances[0].Notify, want)
		}
	}
	if _, _, diags := policy.Parse("n.hcl", []byte(strings.Replace(src, `nodes  = ["lb02"]`, `nodes  = ["lb09"]`, 1)), opts()); !diags.HasErrors() {
		t.Error("a notifier naming an unknown node was accepted")
	}
}

// TestMulticastGroups: keepalived's vrrp_mcast_group4 / 6 as the site's
// multicast_group4 / 6; unicast instances have none.
func TestMulticastGroups(t *testing.T) {
	inst := "instance \"VI_1\" {\n  interface = \"eth0\"\n  vrid = 1\n  vips = [\"192.0.2.1/24\"]\n}\ninstance \"VI_2\" {\n  interface = \"eth0\"\n  vrid = 2\n  version = 3\n  vips = [\"2001:db8::1/64\"]\n}\n"
	site, _, diags := policy.Parse("g.hcl", []byte("site \"s\" {\n  multicast_group4 = \"224.0.0.19\"\n  multicast_group6 = \"ff02::13\"\n}\n"+inst), opts())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c, _ := site.Config("")
	if c.Instances[0].Group != netip.MustParseAddr("224.0.0.19") || c.Instances[1].Group != netip.MustParseAddr("ff02::13") {
		t.Errorf("groups %v %v", c.Instances[0].Group, c.Instances[1].Group)
	}
	site, _, _ = policy.Parse("g.hcl", []byte(inst), opts())
	if c, _ := site.Config(""); c.Instances[0].Group.IsValid() {
		t.Errorf("the RFC's group should be the zero value, got %v", c.Instances[0].Group)
	}
	for _, bad := range []string{"multicast_group4 = \"192.0.2.1\"", "multicast_group4 = \"ff02::12\"", "multicast_group6 = \"224.0.0.18\""} {
		if _, _, diags := policy.Parse("g.hcl", []byte("site \"s\" {\n  "+bad+"\n}\n"+inst), opts()); !diags.HasErrors() || !strings.Contains(diags.Error(), "Invalid multicast group") {
			t.Errorf("%s: %v", bad, diags)
		}
	}
}

// TestNotifyPriorityChanges: the site's setting is each instance's unless
// the instance says otherwise (keepalived's global
// vrrp_notify_priority_changes and the instance's notify_priority_changes).
func TestNotifyPriorityChanges(t *testing.T) {
	for _, c := range []struct {
		name, site, inst string
		want             bool
	}{
		{"default off", "", "", false},
		{"site on", "notify_priority_changes = true", "", true},
		{"instance on", "", "notify_priority_changes = true", true},
		{"instance off overrides the site", "notify_priority_changes = true", "notify_priority_changes = false", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := "site \"s\" {\n  " + c.site + "\n}\ninstance \"VI_1\" {\n  interface = \"eth0\"\n  vrid = 1\n  vips = [\"192.0.2.1/24\"]\n  " + c.inst + "\n}\n"
			site, _, diags := policy.Parse("prio.hcl", []byte(src), opts())
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			cfg, _ := site.Config("")
			if got := cfg.Instances[0].NotifyPriorityChanges; got != c.want {
				t.Errorf("NotifyPriorityChanges = %v, want %v", got, c.want)
			}
		})
	}
}

// TestStatic: static blocks (keepalived's static_ipaddress, static_routes,
// static_rules) reach the nodes they name, take the node's interface, and
// an address that is also a VIP, one with no interface, or an unknown node
// is refused where it is written.
func TestStatic(t *testing.T) {
	site := `
node "lb01" {
  interface = "eth0"
}
node "lb02" {
  interface = "eth1"
}
instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.10/24"]
  priority = { lb01 = 100, lb02 = 90 }
  route {
    to   = "203.0.113.0/24"
    type = "blackhole"
  }
}
static {
  address {
    address = "198.51.100.1/24"
    scope   = "link"
    label   = "eth0:st"
  }
  route {
    to  = "default"
    via = "2001:db8::1"
  }
  rule {
    from  = "198.51.100.0/24"
    table = 100
  }
}
static {
  nodes = ["lb02"]
  address {
    address   = "203.0.113.2/32"
    interface = "lo"
  }
}
`
	s, _, diags := policy.Parse("static.hcl", []byte(site), opts())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c1, _ := s.Config("lb01")
	c2, _ := s.Config("lb02")
	if got := fmt.Sprint(c1.Static.Addrs); got != "[{198.51.100.1/24 eth0:st link eth0}]" {
		t.Errorf("lb01 static addresses %s", got)
	}
	if got := fmt.Sprint(c2.Static.Addrs); got != "[{198.51.100.1/24 eth0:st link eth1} {203.0.113.2/32  global lo}]" {
		t.Errorf("lb02 static addresses %s", got)
	}
	if len(c1.Static.Routes) != 1 || c1.Static.Routes[0].To != netip.MustParsePrefix("::/0") || len(c2.Static.Rules) != 1 {
		t.Errorf("routes %v rules %v", c1.Static.Routes, c2.Static.Rules)
	}
	for _, c := range []struct{ name, src, err string }{
		{"a VIP", `static {
  address {
    address = "192.0.2.10/24"
  }
}`, "static.hcl:18,3-10: Static address is a VIP"},
		{"no interface", `node "lb03" {}
static {
  nodes = ["lb03"]
  address {
    address = "198.51.100.3/24"
  }
}`, "Static address without interface"},
		{"an instance's route", `static {
  route {
    to   = "203.0.113.0/24"
    type = "blackhole"
  }
}`, "Static route is an instance's"},
		{"unknown node", `static {
  nodes = ["lb09"]
}`, "Unknown node"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, diags := policy.Parse("static.hcl", []byte(strings.SplitN(site, "static {", 2)[0]+c.src), opts())
			var all []string
			for _, d := range diags.Errs() {
				all = append(all, d.Error())
			}
			if !diags.HasErrors() || !strings.Contains(strings.Join(all, "\n"), c.err) {
				t.Errorf("want %q, got %v", c.err, all)
			}
		})
	}
}

// TestBGP: the bgp block gives each node that announces a speaker (its
// AS, its router id from its address unless it says otherwise, the peers
// that name it, the timers); health-mode instances need no VRID, go on lo
// and may tie; what is wrong is refused where it is written.
func TestBGP(t *testing.T) {
	site := `
node "lb01" {
  interface = "eth0"
  address   = "192.0.2.11"
}
node "lb02" {
  interface     = "eth0"
  address       = "2001:db8::12"
  bgp_asn       = 65012
  bgp_router_id = "192.0.2.12"
}
instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.10/24"]
  priority = { lb01 = 100, lb02 = 90 }
  bgp      = "master"
}
instance "WEB" {
  vips     = ["203.0.113.20/32"]
  priority = { lb01 = 100, lb02 = 100 }
  bgp      = "health"
}
bgp {
  asn       = 65001
  hold_time = "6s"
  damping   = "2s"
  peer "tor1" {
    address  = "192.0.2.1"
    asn      = 65000
    password = "md5-key"
    bfd {
      min_rx = "100ms"
    }
  }
  peer "tor2" {
    address   = "192.0.2.2"
    asn       = 65000
    nodes     = ["lb02"]
    hold_time = "3s"
  }
}
`
	s, diags, ok := parse(t, site)
	if !ok {
		t.Fatal(diags)
	}
	for _, d := range diags {
		if strings.Contains(d.Summary, "Tied") {
			t.Errorf("health mode ties are ECMP, not a warning: %v", d)
		}
	}
	c1, _ := s.Config("lb01")
	c2, _ := s.Config("lb02")
	if c1.BGP == nil || c1.BGP.ASN != 65001 || c1.BGP.RouterID != netip.MustParseAddr("192.0.2.11") || len(c1.BGP.Peers) != 1 || c1.BGP.Damping != 2*time.Second {
		t.Fatalf("lb01 speaker %+v", c1.BGP)
	}
	p := c1.BGP.Peers[0]
	if p.HoldTime != 6*time.Second || p.Keepalive != 2*time.Second || p.Password != "md5-key" || p.BFD == nil || p.BFD.MinRx != 100*time.Millisecond || p.BFD.Multiplier != 3 {
		t.Errorf("tor1 %+v bfd %+v", p, p.BFD)
	}
	if c2.BGP == nil || c2.BGP.ASN != 65012 || c2.BGP.RouterID != netip.MustParseAddr("192.0.2.12") || len(c2.BGP.Peers) != 2 || c2.BGP.Peers[1].HoldTime != 3*time.Second || c2.BGP.Peers[1].Keepalive != time.Second {
		t.Errorf("lb02 speaker %+v", c2.BGP)
	}
	var web config.Instance
	for _, in := range c1.Instances {
		if in.Name == "WEB" {
			web = in
		}
	}
	if web.Interface != "lo" || !web.Standalone() || web.VRID != 0 {
		t.Errorf("WEB %+v", web)
	}
	if !c1.HoldsSecret() {
		t.Error("a TCP MD5 key is a secret")
	}

	bad := func(from, to string) string { return strings.Replace(site, from, to, 1) }
	for _, c := range []struct{ name, src, err string }{
		{"mode", bad(`bgp      = "master"`, `bgp      = "anycast"`), "Invalid bgp mode"},
		{"subnet on lo", bad(`"203.0.113.20/32"`, `"203.0.113.20/24"`), "Subnet on the loopback"},
		{"no AS", bad(`asn       = 65001`, ``), "No AS number"},
		{"AS_TRANS", bad(`asn       = 65001`, `asn = 23456`), "Invalid AS number"},
		{"router id", bad(`bgp_router_id = "192.0.2.12"`, `bgp_router_id = "2001:db8::1"`), "Invalid router id"},
		{"no router id", bad(`bgp_router_id = "192.0.2.12"`, ``), "No BGP router id"},
		{"hold time", bad(`hold_time = "6s"`, `hold_time = "2s"`), "Hold time too short"},
		{"keepalive", bad(`hold_time = "3s"`, "hold_time = \"3s\"\n    keepalive = \"3s\""), "Keepalive not shorter"},
		{"md5", bad(`password = "md5-key"`, `password = "`+strings.Repeat("k", 81)+`"`), "Invalid TCP MD5 key"},
		{"bfd", bad(`min_rx = "100ms"`, `min_rx = "1ms"`), "BFD interval out of range"},
		{"unknown node", bad(`nodes     = ["lb02"]`, `nodes     = ["lb09"]`), "Unknown node"},
		{"duplicate peer", bad(`address   = "192.0.2.2"`, `address   = "192.0.2.1"`), "Duplicate peer"},
		{"no block", strings.SplitN(site, "bgp {", 2)[0], "No bgp block"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, diags, ok := parse(t, c.src)
			var all []string
			for _, d := range diags {
				all = append(all, d.Summary)
			}
			if ok || !strings.Contains(strings.Join(all, "; "), c.err) {
				t.Errorf("want %q, got %v", c.err, all)
			}
		})
	}
}

// parse parses src as bgp.hcl; ok is false when it has errors.
func parse(t *testing.T, src string) (*policy.Site, hcl.Diagnostics, bool) {
	t.Helper()
	s, _, diags := policy.Parse("bgp.hcl", []byte(src), opts())
	return s, diags, !diags.HasErrors()
}

// TestPlanBGPHealth: plan predicts where a BGP router sends a health-mode
// instance's traffic: the nodes of the top priority, several at a tie
// (ECMP), and where it goes after each single failure.
func TestPlanBGPHealth(t *testing.T) {
	src := `
node "lb01" {
  address = "192.0.2.11"
}
node "lb02" {
  address = "192.0.2.12"
}
node "lb03" {
  address = "192.0.2.13"
}
check "web" {
  plugin = "http-probe"
  weight = -30
}
instance "WEB" {
  vips     = ["203.0.113.20/32"]
  priority = { lb01 = 100, lb02 = 100, lb03 = 80 }
  track    = ["web"]
  bgp      = "health"
}
bgp {
  asn = 65001
  peer "tor" {
    address = "192.0.2.1"
    asn     = 65000
  }
}
`
	s, diags, ok := parse(t, src)
	if !ok {
		t.Fatal(diags)
	}
	var b bytes.Buffer
	s.Plan("").WriteText(&b)
	out := regexp.MustCompile(`[ \t]+`).ReplaceAllString(b.String(), " ")
	for _, want := range []string{
		"WEB - 203.0.113.20/32 ROUTED 100 ROUTED 100 ANNOUNCED 80",
		"routed to lb01 and lb02 (MED 155, ECMP), then lb03 (80)",
		"if lb01 down moves to lb02 (",
		"if check web fails on lb01 moves to lb02 (",
		"if lb03 down stays on lb01 and lb02 (",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(out, "claim it at priority") {
		t.Errorf("a health-mode tie is ECMP, not a warning:\n%s", b.String())
	}
}

// TestHMAC: signed adverts, keepalived's auth_hmac: the site's block for
// every instance, an instance's own instead; keys inline, in hex, in a
// file; keepalived's defaults (enforce, time, window from the interval);
// strict forces enforce; every mistake refused at its place, and no
// diagnostic prints a key.
func TestHMAC(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k2")
	if err := os.WriteFile(keyFile, []byte("keepalived-auth-hmac-key-id-2-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	site := `
site "s" {
  hmac {
    key {
      id     = 1
      secret = "hex:a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    }
    key {
      id          = 2
      secret_file = "` + keyFile + `"
    }
    active_key = 1
  }
}
node "lb01" {
  interface = "eth0"
  address   = "192.0.2.11"
}
node "lb02" {
  interface = "eth0"
  address   = "192.0.2.12"
}
instance "VI_1" {
  vrid     = 1
  version  = 3
  advert_interval = "2500ms"
  vips     = ["192.0.2.10/24"]
  priority = { lb01 = 100, lb02 = 90 }
}
instance "VI_2" {
  vrid     = 2
  vips     = ["192.0.2.20/24"]
  priority = { lb01 = 100, lb02 = 90 }
  strict   = true
  hmac {
    key {
      id     = 7
      secret = "0123456789abcdef0123456789abcdef"
    }
    active_key  = 7
    mode        = "receive-only"
    anti_replay = "monotonic"
  }
}
`
	s, diags, ok := parse(t, site)
	if !ok {
		t.Fatal(diags)
	}
	c, _ := s.Config("lb01")
	h1, h2 := c.Instances[0].HMAC, c.Instances[1].HMAC
	if h1 == nil || h1.ActiveKey != 1 || len(h1.Keys) != 2 || len(h1.Keys[1]) != 32 || string(h1.Keys[2]) != "keepalived-auth-hmac-key-id-2-for-tests" ||
		h1.Mode != vrrp.HMACEnforce || h1.AntiReplay != vrrp.ReplayTime || h1.Window != 6*time.Second {
		t.Fatalf("VI_1 (the site's): %+v", h1)
	}
	if h2 == nil || h2.ActiveKey != 7 || len(h2.Keys) != 1 || h2.Mode != vrrp.HMACEnforce || h2.AntiReplay != vrrp.ReplayMonotonic {
		t.Fatalf("VI_2 (its own, strict): %+v", h2)
	}
	if !slices.ContainsFunc(diags, func(d *hcl.Diagnostic) bool { return d.Summary == "strict forces enforce" }) {
		t.Errorf("no warning that strict forces enforce: %v", diags)
	}
	if !c.HoldsSecret() {
		t.Error("an inline HMAC key is a secret")
	}
	if out := fmt.Sprintf("%v %+v %#v", *h1, *h1, h1.Keys); strings.Contains(out, "a0a1") || strings.Contains(out, "keepalived-auth") || strings.Contains(out, "\\xa0") {
		t.Errorf("a key printed: %s", out)
	}

	bad := func(from, to string) string { return strings.Replace(site, from, to, 1) }
	for _, c := range []struct{ name, src, err string }{
		{"short key", bad(`"0123456789abcdef0123456789abcdef"`, `"0123456789abcdef0123456789abcde"`), "Key length"},
		{"long key", bad(`"0123456789abcdef0123456789abcdef"`, `"`+strings.Repeat("k", 65)+`"`), "Key length"},
		{"bad hex", bad(`hex:a0a1`, `hex:x0a1`), "Invalid hex key"},
		{"id 0", bad(`id     = 7`, `id     = 0`), "Invalid key id"},
		{"duplicate", bad(`id          = 2`, `id          = 1`), "Duplicate key id"},
		{"undefined active", bad(`active_key  = 7`, `active_key  = 8`), "Undefined active_key"},
		{"no active", bad(`active_key = 1`, ``), "active_key"},
		{"mode", bad(`mode        = "receive-only"`, `mode        = "audit"`), "Invalid mode"},
		{"anti_replay", bad(`anti_replay = "monotonic"`, `anti_replay = "counter"`), "Invalid anti_replay"},
		{"window", bad(`active_key = 1`, "active_key = 1\n    time_window = \"301s\""), "Invalid time_window"},
		{"both forms", bad(`secret_file = "`, `secret = "x"`+"\n      secret_file = \""), "secret or secret_file"},
		{"no file", bad(keyFile, keyFile+".missing"), "Cannot read key file"},
		{"auth and hmac", bad(`strict   = true`, "auth {\n    type = \"pass\"\n    password = \"x\"\n  }"), "Both auth and hmac"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, diags, ok := parse(t, c.src)
			var all []string
			for _, d := range diags {
				all = append(all, d.Summary)
			}
			if ok || !strings.Contains(strings.Join(all, "; "), c.err) {
				t.Errorf("want %q, got %v", c.err, all)
			}
			var w strings.Builder
			policy.WriteDiagnostics(&w, map[string]*hcl.File{}, diags)
			if strings.Contains(w.String(), "0123456789abcdef") || strings.Contains(w.String(), "a0a1a2") {
				t.Errorf("a diagnostic printed a key:\n%s", w.String())
			}
		})
	}
	// A key file others can read is warned about.
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags, _ = parse(t, site)
	if !slices.ContainsFunc(diags, func(d *hcl.Diagnostic) bool { return d.Summary == "Key file readable by others" }) {
		t.Errorf("no warning for a 0644 key file: %v", diags)
	}
}

// TestRollout: plan --from checks an authentication change deployed node
// by node: docs/migrating.md's recipe (none, receive-only, permissive,
// enforce; a key rotation in three steps) is safe at every step; each
// shortcut leaves nodes that refuse each other's adverts.
func TestRollout(t *testing.T) {
	const k1 = `key {
      id     = 1
      secret = "hex:a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    }`
	const k2 = `key {
      id     = 2
      secret = "keepalived-auth-hmac-key-id-2-for-tests"
    }`
	step := func(hmac string) *policy.Site {
		t.Helper()
		src := `
site "s" {
  version = 3
` + hmac + `
}
node "lb01" {
  interface = "eth0"
  address   = "192.0.2.11"
}
node "lb02" {
  interface = "eth0"
  address   = "192.0.2.12"
}
instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.10/24"]
  priority = { lb01 = 100, lb02 = 90 }
}
`
		s, diags, ok := parse(t, src)
		if !ok {
			t.Fatal(diags)
		}
		return s
	}
	block := func(mode string, active int, keys ...string) string {
		return fmt.Sprintf("  hmac {\n    %s\n    active_key = %d\n    mode = %q\n  }", strings.Join(keys, "\n    "), active, mode)
	}
	none := step("")
	recv := step(block("receive-only", 1, k1))
	perm := step(block("permissive", 1, k1))
	enf := step(block("enforce", 1, k1))
	both := step(block("enforce", 1, k1, k2))
	on2 := step(block("enforce", 2, k1, k2))
	only2 := step(block("enforce", 2, k2))
	other := step(block("receive-only", 1, strings.Replace(k1, "a0a1", "ffff", 1)))
	for _, c := range []struct {
		name     string
		from, to *policy.Site
		safe     bool
		why      string
	}{
		{"none to receive-only", none, recv, true, ""},
		{"receive-only to permissive", recv, perm, true, ""},
		{"permissive to enforce", perm, enf, true, ""},
		{"add key 2", enf, both, true, ""},
		{"sign with key 2", both, on2, true, ""},
		{"drop key 1", on2, only2, true, ""},
		{"back: enforce to none", enf, none, false, "refuses signed adverts"},
		{"none to enforce", none, enf, false, "enforce refuses unsigned adverts"},
		{"none to permissive", none, perm, false, "without hmac refuses signed"},
		{"receive-only to enforce", recv, enf, false, "enforce refuses unsigned"},
		{"rotate in one step", enf, only2, false, "key 1, which the receivers do not hold"},
		{"another key 1", other, perm, false, "key 1 differs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.to.RolloutFrom(c.from)
			if len(r) != 1 || r[0].Safe != c.safe || !strings.Contains(r[0].Why, c.why) {
				t.Fatalf("%+v, want safe %v (%s)", r, c.safe, c.why)
			}
			if strings.Contains(r[0].Why+r[0].From+r[0].To, "a0a1") {
				t.Fatal("a key in the rollout")
			}
		})
	}
}
