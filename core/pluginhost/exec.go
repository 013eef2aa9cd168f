package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A plugin binary is opened once, checked on the open descriptor (owner,
// mode, SHA-256) and that descriptor is what runs (/proc/self/fd/3 in the
// child): replacing the file between the check and the start changes
// nothing, because the path is not looked at again.

// childBinary is where the child finds the binary: fd 3, the first of
// exec.Cmd.ExtraFiles.
const childBinary = "/proc/self/fd/3"

// afterVerify runs between the check of a binary and its start (tests
// swap the file there).
var afterVerify = func(path string) {}

// openBinary opens path and refuses it unless it is a regular file that
// only root (or the agent's own user) can change, in directories only they
// can change (keepalived's script security), and, when want is set, whose
// content has that SHA-256.
func openBinary(path, want string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plugin binary %s: %w", path, err)
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fail(fmt.Errorf("plugin binary %s: %w", path, err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fail(fmt.Errorf("plugin binary %s is not a regular file", path))
	}
	if err := trusted(path, st, "binary"); err != nil {
		return fail(err)
	}
	if err := trustedDirs(path); err != nil {
		return fail(err)
	}
	if want != "" {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return fail(fmt.Errorf("plugin binary %s: %w", path, err))
		}
		if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
			return fail(fmt.Errorf("refusing to run plugin %s: its SHA-256 is %s but the policy pins %s; if the binary was upgraded on purpose, put the new digest in the policy (sha256sum %s)", path, got, strings.ToLower(want), path))
		}
	}
	return f, nil
}

// trusted refuses a file or directory that a user other than root or the
// agent's own could modify. A sticky directory (like /tmp) may be world
// writable: others cannot rename or remove what root owns in it.
func trusted(path string, st unix.Stat_t, what string) error {
	owner := int(st.Uid)
	if owner != 0 && owner != os.Geteuid() {
		return fmt.Errorf("refusing to run plugin: %s %s belongs to uid %d; it must belong to root (chown root %s)", what, path, owner, path)
	}
	sticky := st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Mode&unix.S_ISVTX != 0
	if st.Mode&0o022 != 0 && !sticky {
		return fmt.Errorf("refusing to run plugin: %s %s is writable by group or others (mode %o); only root may be able to change it (chmod go-w %s)", what, path, st.Mode&0o7777, path)
	}
	return nil
}

// trustedDirs checks every directory from the binary's own up to /.
func trustedDirs(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	real, _ = filepath.Abs(real)
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			return fmt.Errorf("plugin binary %s: %w", path, err)
		}
		if err := trusted(dir, st, "directory"); err != nil {
			return err
		}
		if dir == "/" {
			return nil
		}
	}
}

// stdinOnce gives this process /dev/null as standard input. go-plugin
// hands each plugin the host's own stdin; an agent reads nothing from it,
// and a plugin must not read from the terminal that started the agent.
var stdinOnce sync.Once

func nullStdin() {
	stdinOnce.Do(func() {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return
		}
		defer null.Close()
		unix.Dup3(int(null.Fd()), 0, 0)
	})
}

// baseEnv is what every plugin gets of the agent's environment: the search
// path, locale and time zone. Anything else (a proxy, a credential
// variable) only when the policy names it in the plugin's pass_env.
var baseEnv = []string{"PATH", "LANG", "LANGUAGE", "TZ"}

// pluginEnv builds a plugin's environment from the agent's.
func pluginEnv(pass []string) []string {
	var env []string
	hasPath := false
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH":
			hasPath = true
			env = append(env, kv)
		case strings.HasPrefix(k, "LC_"), contains(baseEnv, k), contains(pass, k):
			env = append(env, kv)
		}
	}
	if !hasPath {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	return env
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
