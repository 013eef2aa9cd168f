package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a ui whose output and errors the test reads back.
type recorder struct{ OutputWriter, ErrorWriter bytes.Buffer }

func testUI() (*recorder, *ui) {
	r := &recorder{}
	return r, &ui{out: &r.OutputWriter, err: &r.ErrorWriter}
}

func TestValidateExitCodes(t *testing.T) {
	mock, ui := testUI()
	if code := (&validateCommand{ui: ui}).Run([]string{"../../policies/sgcc-lb.hcl", "../../policies/demo.hcl"}); code != 0 {
		t.Errorf("valid policies: exit %d, %s", code, mock.ErrorWriter.String())
	}
	if code := (&validateCommand{ui: ui}).Run([]string{"../../core/policy/testdata/bad/vrid-range.hcl"}); code != 1 {
		t.Errorf("invalid policy: exit %d, want 1", code)
	}
	// Warnings pass unless -strict.
	warn := "../../policies/testdata/seed-as-written.hcl"
	if code := (&validateCommand{ui: ui}).Run([]string{warn}); code != 0 {
		t.Errorf("warnings only: exit %d, want 0", code)
	}
	if code := (&validateCommand{ui: ui}).Run([]string{"-strict", warn}); code != 1 {
		t.Errorf("warnings with -strict: exit %d, want 1", code)
	}
	if code := (&validateCommand{ui: ui}).Run(nil); code != 1 {
		t.Errorf("no file: exit %d, want 1", code)
	}
}

func TestFmt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	messy := "instance \"VI_1\" {\nvrid=1\n  vips    = [\"192.0.2.1/24\"]\n}\n"
	if err := os.WriteFile(path, []byte(messy), 0o644); err != nil {
		t.Fatal(err)
	}
	mock, ui := testUI()
	if code := (&fmtCommand{ui: ui}).Run([]string{"-check", path}); code != 1 || !strings.Contains(mock.OutputWriter.String(), path) {
		t.Errorf("fmt -check on a messy file: exit %d, output %q", code, mock.OutputWriter.String())
	}
	if b, _ := os.ReadFile(path); string(b) != messy {
		t.Error("fmt -check changed the file")
	}
	if code := (&fmtCommand{ui: ui}).Run([]string{path}); code != 0 {
		t.Errorf("fmt: exit %d", code)
	}
	b, _ := os.ReadFile(path)
	if want := "instance \"VI_1\" {\n  vrid = 1\n  vips = [\"192.0.2.1/24\"]\n}\n"; string(b) != want {
		t.Errorf("formatted:\n%s\nwant:\n%s", b, want)
	}
	if code := (&fmtCommand{ui: ui}).Run([]string{"-check", path}); code != 0 {
		t.Errorf("fmt -check on a formatted file: exit %d", code)
	}
	for _, p := range []string{"../../policies/sgcc-lb.hcl", "../../policies/demo.hcl", "../../policies/testdata/seed-as-written.hcl"} {
		if code := (&fmtCommand{ui: ui}).Run([]string{"-check", p}); code != 0 {
			t.Errorf("%s is not canonically formatted", p)
		}
	}
}

func TestPlanCommand(t *testing.T) {
	mock, ui := testUI()
	if code := (&planCommand{ui: ui}).Run([]string{"../../policies/sgcc-lb.hcl", "--node", "lb02"}); code != 0 {
		t.Fatalf("plan --node after the file: exit %d, %s", code, mock.ErrorWriter.String())
	}
	if out := mock.OutputWriter.String(); !strings.Contains(out, "VI_2      22    10.2.61.25/24  BACKUP 80   MASTER 100  BACKUP 60") {
		t.Errorf("plan output lacks the VI_2 row:\n%s", out)
	}
	mock, ui = testUI()
	if code := (&planCommand{ui: ui}).Run([]string{"-json", "../../policies/sgcc-lb.hcl"}); code != 0 || !bytes.HasPrefix(mock.OutputWriter.Bytes(), []byte("{")) {
		t.Errorf("plan -json: exit %d, %q", code, mock.OutputWriter.String())
	}
	mock, ui = testUI()
	if code := (&planCommand{ui: ui}).Run([]string{"--node", "lb9", "../../policies/sgcc-lb.hcl"}); code != 1 || !strings.Contains(mock.ErrorWriter.String(), `no node "lb9"`) {
		t.Errorf("plan for an unknown node: exit %d, %q", code, mock.ErrorWriter.String())
	}
}

// TestValidatePlugins: -plugins starts each plugin (here the built-in
// http-probe, re-executed as `vigil plugin http-probe`) and reports what it
// refuses at the attribute's file:line:col.
func TestValidatePlugins(t *testing.T) {
	dir := t.TempDir()
	selfPath = filepath.Join(dir, "vigil")
	if out, err := exec.Command("go", "build", "-o", selfPath, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	defer func() { selfPath = "" }()
	pol := filepath.Join(dir, "p.hcl")
	os.WriteFile(pol, []byte(`site "s" {
  plugin_user = "root"
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

  config {
    url    = "ftp://192.0.2.1/"
    status = [200, 700]
  }
}
`), 0o644)
	rec, u := testUI()
	if code := (&validateCommand{ui: u}).Run([]string{pol}); code != 0 {
		t.Errorf("without -plugins the config is not checked: exit %d", code)
	}
	if code := (&validateCommand{ui: u}).Run([]string{"-plugins", pol}); code != 1 {
		t.Errorf("-plugins: exit %d, want 1", code)
	}
	stderr := rec.ErrorWriter.String()
	for _, want := range []string{pol + ":17:14: error: The check plugin of check \"web\" refused its config", "url: \"ftp://192.0.2.1/\" is not an http or https URL",
		pol + ":18:14: error:", "status: 700 is not an HTTP status"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestImportCommand(t *testing.T) {
	rec, u := testUI()
	dir := "../../core/kaimport/testdata/"
	code := (&importCommand{ui: u}).Run([]string{dir + "lb01.conf", "--node", "lb02=" + dir + "lb02.conf", "--node=lb03=" + dir + "lb03.conf"})
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, rec.ErrorWriter.String())
	}
	out := rec.OutputWriter.String()
	for _, want := range []string{`node "lb01"`, `node "lb02"`, `node "lb03"`, `{ lb01 = 100, lb02 = 60, lb03 = 80 }`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if !strings.Contains(rec.ErrorWriter.String(), "state MASTER is not imported") {
		t.Errorf("warnings not reported:\n%s", rec.ErrorWriter.String())
	}
	if !strings.Contains(rec.ErrorWriter.String(), "the policy holds secrets") {
		t.Errorf("no word that the policy (with the seed's auth_pass) holds a secret:\n%s", rec.ErrorWriter.String())
	}
	_, bad := testUI()
	if code := (&importCommand{ui: bad}).Run([]string{"--node", "nofile"}); code != 1 {
		t.Errorf("--node without NAME=FILE: exit %d", code)
	}
}

// TestFmtDiffStdinAndValidateJSON: fmt -diff prints a unified diff and
// changes nothing, fmt - formats standard input, validate -json reports
// each file with its diagnostics' positions.
func TestFmtDiffStdinAndValidateJSON(t *testing.T) {
	src := "site \"x\" {\nplugin_user=\"vigil\"\n}\n"
	path := filepath.Join(t.TempDir(), "f.hcl")
	os.WriteFile(path, []byte(src), 0o644)
	rec, u := testUI()
	if code := run([]string{"fmt", "-diff", path}, u); code != 1 {
		t.Errorf("fmt -diff on an unformatted file: exit %d", code)
	}
	want := "--- " + path + "\n+++ " + path + " (formatted)\n@@ -1,3 +1,3 @@\n site \"x\" {\n-plugin_user=\"vigil\"\n+  plugin_user = \"vigil\"\n }\n"
	if got := rec.OutputWriter.String(); got != want {
		t.Errorf("fmt -diff:\n%s\nwant:\n%s", got, want)
	}
	if b, _ := os.ReadFile(path); string(b) != src {
		t.Error("fmt -diff changed the file")
	}

	rec, u = testUI()
	u.in = strings.NewReader(src)
	if code := run([]string{"fmt", "-"}, u); code != 0 || rec.OutputWriter.String() != "site \"x\" {\n  plugin_user = \"vigil\"\n}\n" {
		t.Errorf("fmt -: exit %d, %q", code, rec.OutputWriter.String())
	}

	rec, u = testUI()
	code := run([]string{"validate", "-json", "../../core/policy/testdata/bad/vrid-range.hcl"}, u)
	var got struct {
		File        string
		Valid       bool
		Diagnostics []struct {
			Severity, Summary string
			Line, Column      int
		}
	}
	if err := json.Unmarshal(rec.OutputWriter.Bytes(), &got); err != nil || code != 1 || got.Valid || len(got.Diagnostics) == 0 ||
		got.Diagnostics[0].Severity != "error" || got.Diagnostics[0].Line == 0 {
		t.Errorf("validate -json: exit %d, %v, %+v\n%s", code, err, got, rec.OutputWriter.String())
	}
}

// TestFmtWritesAtomically: fmt never rewrites the policy in place (a
// crash or a full disk would leave it truncated): a new file with the old
// mode takes its place in one rename, through a symbolic link the file it
// names, the link kept.
func TestFmtWritesAtomically(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "site.hcl")
	messy := "instance \"VI_1\" {\nvrid=1\n  vips    = [\"192.0.2.1/24\"]\n}\n"
	os.WriteFile(real, []byte(messy), 0o640)
	link := filepath.Join(dir, "current.hcl")
	os.Symlink("site.hcl", link)
	before, _ := os.Stat(real)
	_, ui := testUI()
	if code := (&fmtCommand{ui: ui}).Run([]string{link}); code != 0 {
		t.Fatalf("fmt: exit %d", code)
	}
	after, err := os.Stat(real)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(before, after) {
		t.Error("the policy was rewritten in place, not replaced")
	}
	if after.Mode().Perm() != 0o640 {
		t.Errorf("mode %o, want 640", after.Mode().Perm())
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symbolic link was replaced by a file")
	}
	if b, _ := os.ReadFile(real); !strings.Contains(string(b), "  vrid = 1") {
		t.Errorf("not formatted: %s", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".site.hcl.*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestValidateWarnsOfReadablePasswords: a policy holding a password that
// every user can read gets a warning naming the file and the fix; one
// without a password, or not readable by others, gets none.
func TestValidateWarnsOfReadablePasswords(t *testing.T) {
	dir := t.TempDir()
	withPass := `instance "VI_1" {
  vrid      = 1
  interface = "eth0"
  vips      = ["192.0.2.1/24"]
  auth {
    type     = "pass"
    password = "s3cret"
  }
}
`
	noPass := strings.Replace(withPass, "  auth {\n    type     = \"pass\"\n    password = \"s3cret\"\n  }\n", "", 1)
	for _, tc := range []struct {
		src  string
		mode os.FileMode
		warn bool
	}{
		{withPass, 0o644, true},
		{withPass, 0o640, false},
		{noPass, 0o644, false},
	} {
		path := filepath.Join(dir, "p.hcl")
		os.WriteFile(path, []byte(tc.src), tc.mode)
		os.Chmod(path, tc.mode)
		mock, ui := testUI()
		(&validateCommand{ui: ui}).Run([]string{path})
		got := strings.Contains(mock.ErrorWriter.String(), "Password readable by every user")
		if got != tc.warn {
			t.Errorf("mode %o, password %v: warned %v:\n%s", tc.mode, tc.src == withPass, got, mock.ErrorWriter.String())
		}
		if got && !strings.Contains(mock.ErrorWriter.String(), "chmod o-r "+path) {
			t.Errorf("the warning does not say what to do:\n%s", mock.ErrorWriter.String())
		}
		if strings.Contains(mock.ErrorWriter.String(), "s3cret") {
			t.Error("the password was printed")
		}
	}
}
