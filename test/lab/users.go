package lab

import (
	"os/exec"
	"os/user"
	"strconv"
	"testing"
)

// PluginUser is the user the package creates for plugins and policies
// default to.
const PluginUser = "vigil-plugin"

// EnsurePluginUser makes sure PluginUser exists, as the package's
// postinst would (a system user and group, no home, no shell), and
// returns its uid and gid. It needs root.
func EnsurePluginUser(t testing.TB) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup(PluginUser)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
			"--shell", "/usr/sbin/nologin", "--comment", "Vigil plugins", PluginUser).CombinedOutput()
		if err != nil {
			t.Fatalf("create the plugin user %s: %v\n%s", PluginUser, err, out)
		}
		if u, err = user.Lookup(PluginUser); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}
