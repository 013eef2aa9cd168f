package script

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecure: keepalived's enable_script_security rules, as root (they
// do not apply to a script run unprivileged).
func TestSecure(t *testing.T) {
	if os.Geteuid() != 0 {
		if err := Secure([]string{"/bin/sh", "-c", "/nonexistent/x.sh"}); err != nil {
			t.Errorf("unprivileged: %v, want nil (nothing to protect)", err)
		}
		t.Skip("the path rules apply when running as root: run as root")
	}
	dir := filepath.Join(t.TempDir(), "scripts") // under a root-owned 0700 directory
	os.Mkdir(dir, 0o755)
	sh := filepath.Join(dir, "check.sh")
	os.WriteFile(sh, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	link := filepath.Join(dir, "link.sh")
	os.Symlink(sh, link)
	for _, c := range []struct {
		name  string
		setup func()
		argv  []string
		want  string // "" is secure
	}{
		{"a root-owned script", func() {}, []string{sh}, ""},
		{"through a shell", func() {}, []string{"/bin/sh", "-c", sh + " --quick"}, ""},
		{"a program on PATH", func() {}, []string{"true"}, ""},
		{"world-writable script", func() { os.Chmod(sh, 0o757) }, []string{"/bin/sh", "-c", sh}, "writable by every user"},
		{"group-writable, non-root group", func() { os.Chmod(sh, 0o775); os.Chown(sh, 0, 4242) }, []string{sh}, "writable by group 4242"},
		{"group-writable, root group", func() { os.Chmod(sh, 0o775); os.Chown(sh, 0, 0) }, []string{sh}, ""},
		{"owned by another user", func() { os.Chown(sh, 4242, 0) }, []string{sh}, "owned by uid 4242"},
		{"a directory anyone can write", func() { os.Chmod(dir, 0o777) }, []string{sh}, "writable by every user"},
		{"a sticky directory", func() { os.Chmod(dir, os.ModeSticky|0o777) }, []string{sh}, ""},
		{"a link to an insecure script", func() { os.Chmod(sh, 0o757) }, []string{link}, "writable by every user"},
		{"a missing script", func() {}, []string{"/bin/sh", "-c", filepath.Join(dir, "gone.sh")}, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.Chmod(dir, 0o755)
			os.Chmod(sh, 0o755)
			os.Chown(sh, 0, 0)
			c.setup()
			err := Secure(c.argv)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}
