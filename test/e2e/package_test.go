package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestDebianPackage builds the package (make deb), installs it with dpkg on
// this machine, checks what an operator gets (the binary and its version,
// the vigil user, a policy only root and vigil read that validates, the
// unit that systemd-analyze verifies with an exposure of at most 2.5, man
// pages, completion), removes it (the policy stays) and purges it (nothing
// stays). It installs for real, so it runs as root under CI or when
// VIGIL_PACKAGE_TEST=1, and never over an installed vigil.
func TestDebianPackage(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("VIGIL_PACKAGE_TEST") != "1" {
		t.Skip("installs a package on this machine: runs under CI=true or VIGIL_PACKAGE_TEST=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to install a package")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "systemd-analyze", "man", "adduser"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("needs %s (apt-get install dpkg systemd man-db adduser)", tool)
		}
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "vigil").Output(); strings.Contains(string(out), "installed") {
		t.Fatal("a vigil package is installed on this machine; not touching it")
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	const version = "0.1.0+test1"
	dir := t.TempDir()
	build := exec.Command("packaging/build-deb.sh", version, dir)
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the package: %v\n%s", err, out)
	}
	deb := filepath.Join(dir, "vigil_"+version+"_"+goarch(t)+".deb")
	t.Cleanup(func() { exec.Command("dpkg", "--purge", "vigil").Run() })
	run("dpkg", "-i", deb)

	if v := run("/usr/bin/vigil", "--version"); strings.TrimSpace(v) != "vigil "+version {
		t.Errorf("vigil --version: %q", v)
	}
	run("id", "vigil")
	if out := run("stat", "-c", "%a %U:%G", "/etc/vigil/site.hcl"); strings.TrimSpace(out) != "640 root:vigil" {
		t.Errorf("/etc/vigil/site.hcl is %s; want 640 root:vigil (it may hold passwords)", out)
	}
	// Plugins run as a user of their own, outside the agent's group: the
	// policy is not theirs to read.
	if out := run("id", "-nG", "vigil-plugin"); strings.Contains(" "+out+" ", " vigil ") {
		t.Errorf("vigil-plugin is in the agent's group: %s", out)
	}
	run("/usr/bin/vigil", "validate", "/etc/vigil/site.hcl")
	// The BGP speaker: where the agent looks for it, root's, and not a
	// command for people.
	if out := run("stat", "-c", "%a %U:%G", "/usr/lib/vigil/vigil-bgp"); strings.TrimSpace(out) != "755 root:root" {
		t.Errorf("/usr/lib/vigil/vigil-bgp is %s; want 755 root:root", out)
	}
	if out, err := exec.Command("/usr/lib/vigil/vigil-bgp", "--help").CombinedOutput(); err == nil || !strings.Contains(string(out), "the vigil agent runs it") {
		t.Errorf("vigil-bgp --help: %v %q", err, out)
	}
	// postinst follows no symbolic link: a link where the policy should be
	// is reported, and the file it names keeps its owner and mode.
	target := filepath.Join(t.TempDir(), "elsewhere.hcl")
	os.WriteFile(target, []byte("# not the policy\n"), 0o600)
	os.Rename("/etc/vigil/site.hcl", "/etc/vigil/site.hcl.keep")
	os.Symlink(target, "/etc/vigil/site.hcl")
	out, err := exec.Command("/var/lib/dpkg/info/vigil.postinst", "configure").CombinedOutput()
	os.Remove("/etc/vigil/site.hcl")
	os.Rename("/etc/vigil/site.hcl.keep", "/etc/vigil/site.hcl")
	if fi, _ := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Gid != 0 || !strings.Contains(string(out), "symbolic link") {
		t.Errorf("postinst over a symbolic link: %v, target mode %v, said %q", err, fi.Mode(), out)
	}
	if out := run("systemd-analyze", "verify", "/lib/systemd/system/vigil.service"); strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify:\n%s", out)
	}
	sec := run("systemd-analyze", "security", "--offline=true", "/lib/systemd/system/vigil.service")
	m := regexp.MustCompile(`Overall exposure level for vigil.service: ([0-9.]+)`).FindStringSubmatch(sec)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", sec)
	}
	if level, _ := strconv.ParseFloat(m[1], 64); level > 2.5 {
		t.Errorf("exposure %s, want at most 2.5:\n%s", m[1], sec)
	}
	t.Logf("systemd-analyze security --offline=true vigil.service: %s", m[1])
	for _, page := range []string{"/usr/share/man/man8/vigil.8.gz", "/usr/share/man/man5/vigil-policy.5.gz"} {
		if out := run("man", "-l", page); !strings.Contains(out, "NAME") {
			t.Errorf("man -l %s:\n%s", page, out)
		}
	}
	run("bash", "-n", "/usr/share/bash-completion/completions/vigil")
	if out := run("bash", "-c", ". /usr/share/bash-completion/completions/vigil; COMP_WORDS=(vigil val); COMP_CWORD=1; _vigil; echo ${COMPREPLY[@]}"); strings.TrimSpace(out) != "validate" {
		t.Errorf("completing 'vigil val': %q", out)
	}

	run("dpkg", "-r", "vigil")
	for _, p := range []string{"/usr/bin/vigil", "/usr/lib/vigil/vigil-bgp"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left after removal", p)
		}
	}
	if _, err := os.Stat("/etc/vigil/site.hcl"); err != nil {
		t.Errorf("removal took the policy: %v", err)
	}
	run("dpkg", "--purge", "vigil")
	for _, p := range []string{"/etc/vigil", "/var/lib/vigil", "/lib/systemd/system/vigil.service"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left after purge", p)
		}
	}
}

func goarch(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
