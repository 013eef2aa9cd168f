package main

import (
	"flag"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		code      int
		out, errs string
	}{
		{nil, 1, "", "Available commands are:"},
		{[]string{"--help"}, 0, "    validate   Check site policies", ""},
		{[]string{"help", "plan"}, 0, "Usage: vigil plan", ""},
		{[]string{"--version"}, 0, "vigil dev", ""},
		{[]string{"agent", "-h"}, 0, "Usage: vigil agent --policy FILE --node NAME", ""},
		{[]string{"fmt", "--", "-h"}, 1, "", ""}, // a file named -h, not a help flag
		{[]string{"agentx"}, 1, "", `unknown command "agentx". Did you mean "agent"?`},
		// Flags after the file name count (a warning-free policy, then one
		// whose only finding is a warning: -strict must fail it).
		{[]string{"validate", "../../packaging/site.hcl", "-strict"}, 0, "valid (0 warnings)", ""},
		{[]string{"validate", "testdata/empty.hcl", "-strict"}, 1, "", "No instances"},
		{[]string{"validate", "../../policies/demo.hcl"}, 0, "", ""},
		{[]string{"validate", "../../core/policy/testdata/bad/vrid-range.hcl"}, 1, "", "vrid-range.hcl:"},
	} {
		rec, u := testUI()
		code := run(tc.args, u)
		if code != tc.code || !strings.Contains(rec.OutputWriter.String(), tc.out) || !strings.Contains(rec.ErrorWriter.String(), tc.errs) {
			t.Errorf("vigil %q: exit %d, want %d\nstdout: %s\nstderr: %s", tc.args, code, tc.code, rec.OutputWriter.String(), rec.ErrorWriter.String())
		}
	}
}

// TestHelpNamesEveryFlag: each command's help mentions every flag it
// accepts.
func TestHelpNamesEveryFlag(t *testing.T) {
	var made []*flag.FlagSet
	madeFlagSets = &made
	defer func() { madeFlagSets = nil }()
	_, u := testUI()
	for name, c := range commands(u) {
		made = made[:0]
		run([]string{name, "--no-such-flag-for-the-test"}, u)
		if len(made) == 0 {
			continue // takes no flags (plugin)
		}
		made[len(made)-1].VisitAll(func(f *flag.Flag) {
			if !strings.Contains(c.Help(), "-"+f.Name) {
				t.Errorf("vigil %s -h does not mention -%s", name, f.Name)
			}
		})
	}
}
