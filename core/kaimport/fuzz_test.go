package kaimport_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-ha/vigil/core/kaimport"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/plugins/builtin"
)

// FuzzImport: whatever keepalived configuration text comes in, the import
// returns a policy or an error, never a panic, and a policy it returns is
// HCL that policy.Parse reads (it may refuse it, with reasons).
func FuzzImport(f *testing.F) {
	for _, name := range []string{"lb01.conf", "lb02.conf", "lb03.conf", "unicast.conf"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(string(b), "")
			f.Add(string(b), "lb01")
		}
	}
	f.Add(vi1+"\nvrrp_sync_group VG1 {\n  VI_1 VI_2\n}\n", "")
	f.Add("vrrp_script chk {\n  @lb01 script \"/bin/true\"\n}\n"+vi1, "lb01")
	f.Add("global_defs {\n  smtp_alert\n  notification_email {\n    a@example.org\n  }\n  smtp_server 192.0.2.25\n}\n"+vi1, "")
	f.Add("vrrp_instance X {\n  virtual_ipaddress {\n    192.0.2.1 dev\n  }\n  track_script {\n    chk weight\n  }\n}\n", "")
	f.Add("{{{{}}}} include", "")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text, node string) {
		p := filepath.Join(dir, "keepalived.conf")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Skip()
		}
		if node != "" && !policyName(node) {
			node = "lb01"
		}
		out, _, err := kaimport.Convert([]kaimport.Node{{Name: node, Path: p}})
		if err != nil {
			return
		}
		policy.Parse("imported.hcl", out, policy.Options{Builtins: builtin.Kinds()})
	})
}

// policyName keeps the fuzzer's node names to what a command line passes.
func policyName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// TestImportSurvivesMutations: two thousand seeded mutations of the seed
// configurations (bytes flipped, lines cut, keywords swapped) import or
// fail with an error; none panics. A fixed seed keeps it repeatable; the
// open-ended search is FuzzImport (make fuzz).
func TestImportSurvivesMutations(t *testing.T) {
	var seeds []string
	for _, name := range []string{"lb01.conf", "unicast.conf"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, string(b))
	}
	words := []string{"{", "}", "\n", "include", "@lb01", "group", "weight", "no_track", "label", "smtp_alert", "\"", "#", "0", "-1", "999999999999"}
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	p := filepath.Join(dir, "keepalived.conf")
	for i := range 2000 {
		b := []byte(seeds[i%len(seeds)])
		for range 1 + rng.IntN(4) {
			at := rng.IntN(len(b))
			switch rng.IntN(3) {
			case 0:
				b[at] = byte(rng.IntN(128))
			case 1:
				b = append(b[:at], b[min(len(b), at+rng.IntN(40)):]...)
			default:
				w := words[rng.IntN(len(words))]
				b = append(b[:at], append([]byte(" "+w+" "), b[at:]...)...)
			}
			if len(b) == 0 {
				b = []byte("x")
			}
		}
		os.WriteFile(p, b, 0o644)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("mutation %d panicked: %v\n%s", i, r, b)
				}
			}()
			if out, _, err := kaimport.Convert([]kaimport.Node{{Name: "lb01", Path: p}}); err == nil {
				policy.Parse("imported.hcl", out, policy.Options{Builtins: builtin.Kinds()})
			}
		}()
	}
}
