package script

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Secure is keepalived's enable_script_security: a script that runs as
// root must not be one a non-root user could change. When this process
// runs as root (user or group 0), every component of the program's path
// and of the script a shell runs (["/bin/sh", "-c", "/path/check.sh
// args"]), and of the paths their symbolic links resolve to, must be
// owned by root and not writable by a group other than root's or by
// others (a directory with the sticky bit, like /tmp, and a symbolic
// link, whose own mode means nothing, excepted). The
// error says which path fails and why.
func Secure(argv []string) error {
	if os.Geteuid() != 0 && os.Getegid() != 0 {
		return nil // a script run unprivileged can harm only that user
	}
	for _, p := range programs(argv) {
		if err := securePath(p); err != nil {
			return err
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && real != p {
			if err := securePath(real); err != nil {
				return err
			}
		}
	}
	return nil
}

// programs is what argv runs: its program and, for a shell's -c, the
// first word of the command when it is a path or found on PATH.
func programs(argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	var out []string
	if p, err := exec.LookPath(argv[0]); err == nil {
		out = append(out, p)
	} else {
		out = append(out, argv[0])
	}
	shell := map[string]bool{"sh": true, "bash": true, "dash": true}[filepath.Base(argv[0])]
	if shell && len(argv) > 2 && argv[1] == "-c" {
		if f := strings.Fields(argv[2]); len(f) > 0 {
			if p, err := exec.LookPath(f[0]); err == nil {
				out = append(out, p)
			} else if strings.Contains(f[0], "/") {
				out = append(out, f[0])
			}
		}
	}
	return out
}

// securePath checks path and each directory above it.
func securePath(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode()
		switch {
		case st.Uid != 0:
			return fmt.Errorf("%s is owned by uid %d, not root: that user could change what runs as root", p, st.Uid)
		case mode&os.ModeSymlink != 0, mode.IsDir() && mode&os.ModeSticky != 0:
			// a link's own mode means nothing (its target is checked)
		case mode&0o002 != 0:
			return fmt.Errorf("%s is writable by every user", p)
		case mode&0o020 != 0 && st.Gid != 0:
			return fmt.Errorf("%s is writable by group %d", p, st.Gid)
		}
		if p == "/" {
			return nil
		}
	}
}
