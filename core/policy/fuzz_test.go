package policy_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-ha/vigil/core/policy"
)

// FuzzParse: any text in, diagnostics or a configuration out, never a
// panic; and a policy that loads resolves for each of its nodes.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"../../policies/*.hcl", "../../policies/testdata/*.hcl", "testdata/bad/*.hcl", "testdata/*.hcl"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]"))
	f.Fuzz(func(t *testing.T, src []byte) {
		site, _, diags := policy.Parse("fuzz.hcl", src, opts())
		if diags.HasErrors() != (site == nil) {
			t.Fatalf("errors %v but site %v", diags.HasErrors(), site != nil)
		}
		if site == nil {
			return
		}
		for _, c := range site.Configs() {
			if _, err := site.Config(c.Node); err != nil {
				t.Fatalf("node %q of a valid policy does not resolve: %v", c.Node, err)
			}
		}
	})
}
