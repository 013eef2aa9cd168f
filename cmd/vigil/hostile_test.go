package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writePolicy(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "site.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The VRRP password and a BGP session's TCP MD5 key are printed by no command: not in a warning about it,
// not in a diagnostic that quotes its line, not in plan.
func TestPasswordNeverPrinted(t *testing.T) {
	const secret = "s3cr3tPW-toolong"
	good := writePolicy(t, `
node "n1" {
  interface = "eth0"
  address   = "192.0.2.1"
}
node "n2" {
  interface = "eth0"
  address   = "192.0.2.2"
}
instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.10/24"]
  priority = { n1 = 100, n2 = 90 }
  auth {
    type = "pass"
    password = "`+secret+`"
  }
}
instance "VI_2" {
  vrid     = 2
  version  = 3
  vips     = ["192.0.2.20/24"]
  priority = { n1 = 100, n2 = 90 }
  hmac {
    key {
      id     = 1
      secret = "`+secret+`0123456789abcdef"
    }
    active_key = 1
  }
}
instance "WEB" {
  vips     = ["203.0.113.20/32"]
  priority = { n1 = 100, n2 = 100 }
  bgp      = "health"
}
bgp {
  asn = 65001
  peer "tor" {
    address  = "192.0.2.254"
    asn      = 65000
    password = "`+secret+`"
  }
}
`)
	bad := writePolicy(t, `
instance "VI_1" {
  vrid = 1
  auth {
    type = "pass"
    password = "`+secret+`" oops = 1
  }
}
`)
	badKey := writePolicy(t, `
instance "VI_1" {
  vrid    = 1
  version = 3
  hmac {
    key {
      id     = 1
      secret = "`+secret+`" oops = 1
    }
    active_key = 1
  }
}
`)
	shortKey := writePolicy(t, `
instance "VI_1" {
  vrid    = 1
  version = 3
  vips    = ["192.0.2.10/24"]
  hmac {
    key {
      id     = 1
      secret = "`+secret+`"
    }
    active_key = 1
  }
}
`)
	runs := map[string]func(*ui) int{
		"validate":         func(u *ui) int { return (&validateCommand{ui: u}).Run([]string{good}) },
		"validate -strict": func(u *ui) int { return (&validateCommand{ui: u}).Run([]string{"-strict", good}) },
		"validate bad":     func(u *ui) int { return (&validateCommand{ui: u}).Run([]string{bad}) },
		"plan":             func(u *ui) int { return (&planCommand{ui: u}).Run([]string{good}) },
		"plan -json":       func(u *ui) int { return (&planCommand{ui: u}).Run([]string{"-json", good}) },
		"plan --from":      func(u *ui) int { return (&planCommand{ui: u}).Run([]string{"--from", good, good}) },
		"validate bad key": func(u *ui) int { return (&validateCommand{ui: u}).Run([]string{badKey}) },
		"validate short":   func(u *ui) int { return (&validateCommand{ui: u}).Run([]string{shortKey}) },
	}
	for name, run := range runs {
		rec, u := testUI()
		run(u)
		out := rec.OutputWriter.String() + rec.ErrorWriter.String()
		if out == "" {
			t.Errorf("%s printed nothing; the test would prove nothing", name)
		}
		for _, part := range []string{secret, secret[:8], secret[:6]} {
			if strings.Contains(out, part) {
				t.Errorf("%s printed the password (%q):\n%s", name, part, out)
			}
		}
	}
}

// An untracked address owner draws no warning (validate -strict used to
// refuse every owner policy); a VIP that is a node's own address without
// priority 255 does.
func TestOwnerPolicies(t *testing.T) {
	nodes := `
node "n1" {
  interface = "eth0"
  address   = "192.0.2.1"
}
node "n2" {
  interface = "eth0"
  address   = "192.0.2.2"
}
`
	owner := writePolicy(t, nodes+`
instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.1/24"]
  priority = { n1 = 255, n2 = 100 }
}
`)
	rec, u := testUI()
	if code := (&validateCommand{ui: u}).Run([]string{"-strict", owner}); code != 0 {
		t.Errorf("owner policy refused by -strict: %s", rec.ErrorWriter.String())
	}
	notOwner := writePolicy(t, nodes+`
instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.1/24"]
  priority = { n1 = 200, n2 = 100 }
}
`)
	rec, u = testUI()
	(&validateCommand{ui: u}).Run([]string{notOwner})
	if out := rec.ErrorWriter.String(); !strings.Contains(out, "VIP is a node's own address") || !strings.Contains(out, ":13:") {
		t.Errorf("no warning for a VIP equal to n1's address at priority 200:\n%s", out)
	}
}

// Hostile files get one clear error, fast, and never a crash.
func TestHostilePolicyFiles(t *testing.T) {
	cases := map[string]struct{ src, want string }{
		"nested brackets":  {"a = " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000), "nested too deeply"},
		"nested templates": {`a = "` + strings.Repeat("${", 100000) + "1" + strings.Repeat("}", 100000) + `"`, "nested too deeply"},
		"binary":           {"\x7fELF\x02\x01\x01\x00" + strings.Repeat("\x00\xff", 50000), "not text"},
		"too large":        {strings.Repeat("# comment\n", 500000), "larger than"},
	}
	for name, c := range cases {
		path := writePolicy(t, c.src)
		rec, u := testUI()
		if code := (&validateCommand{ui: u}).Run([]string{path}); code != 1 {
			t.Errorf("%s: exit %d, want 1", name, code)
		}
		out := rec.ErrorWriter.String()
		if !strings.Contains(out, c.want) || strings.Count(out, "error") != 1 || len(out) > 1000 {
			t.Errorf("%s: want one short error saying %q, got %d bytes:\n%.500s", name, c.want, len(out), out)
		}
	}
	// Many errors: the first 50 are printed, then a count.
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "instance \"VI_%d\" {\n  vrid = 999\n  vips = [\"192.0.2.1/24\"]\n}\n", i)
	}
	rec, u := testUI()
	(&validateCommand{ui: u}).Run([]string{writePolicy(t, b.String())})
	out := rec.ErrorWriter.String()
	if n := strings.Count(out, ": error: "); n != 50 || !strings.Contains(out, "more errors") {
		t.Errorf("printed %d errors, want 50 and a count:\n%.300s", n, out[max(len(out)-300, 0):])
	}
}

// Validation is close to linear: 10,000 instances on two nodes.
func TestValidateManyInstances(t *testing.T) {
	var b strings.Builder
	b.WriteString("node \"n1\" {\n  address = \"192.0.2.1\"\n}\nnode \"n2\" {\n  address = \"192.0.2.2\"\n}\n")
	for i := range 10000 {
		fmt.Fprintf(&b, "instance %q {\n  vrid = %d\n  interface = \"eth%d\"\n  vips = [\"198.51.%d.%d/32\"]\n  priority = { n1 = 100, n2 = 90 }\n}\n",
			fmt.Sprintf("VI_%d", i), i%255+1, i/255, (i/250)%256, i%250+1)
	}
	path := writePolicy(t, b.String())
	start := time.Now()
	rec, u := testUI()
	if code := (&validateCommand{ui: u}).Run([]string{path}); code != 0 {
		t.Fatalf("exit %d: %.2000s", code, rec.ErrorWriter.String())
	}
	// Generous for a loaded CI machine; quadratic work takes minutes here.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("10,000 instances took %v to validate", d)
	}
}

// plan --from exits 2 when a rollout step would split a site (nodes on
// the two policies refusing each other's adverts), 0 when it would not.
func TestPlanFromExitCode(t *testing.T) {
	step := func(mode string) string {
		return writePolicy(t, `
site "s" {
  version = 3
  hmac {
    key {
      id     = 1
      secret = "0123456789abcdef0123456789abcdef"
    }
    active_key = 1
    mode       = "`+mode+`"
  }
}
node "n1" {
  interface = "eth0"
  address   = "192.0.2.1"
}
node "n2" {
  interface = "eth0"
  address   = "192.0.2.2"
}
instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.10/24"]
  priority = { n1 = 100, n2 = 90 }
}
`)
	}
	recv, perm, enf := step("receive-only"), step("permissive"), step("enforce")
	for _, c := range []struct {
		from, to string
		code     int
		says     string
	}{{recv, perm, 0, "safe"}, {perm, enf, 0, "safe"}, {recv, enf, 2, "UNSAFE"}} {
		rec, u := testUI()
		if code := (&planCommand{ui: u}).Run([]string{"--from", c.from, c.to}); code != c.code || !strings.Contains(rec.OutputWriter.String(), c.says) {
			t.Errorf("exit %d, want %d:\n%s%s", code, c.code, rec.OutputWriter.String(), rec.ErrorWriter.String())
		}
	}
}
