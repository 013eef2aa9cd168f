package lab

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A SystemdNode is a lab node run as operators run theirs: systemd is its
// PID 1, in PID, mount, UTS and cgroup namespaces of its own, joined to
// the node's network namespace. Everything installed on this machine (the
// vigil package, nginx, dbus, polkit) is there, with the node's own
// /run, /tmp, /var/tmp, journal, state directory (/var/lib/vigil),
// /etc/default/vigil, /etc/hostname, web root, nginx sites
// (/etc/nginx/sites-enabled) and /mnt (its Share directory). Timers are
// masked (apt's daily jobs must never run in a node). /proc/sys is read-only
// but for /proc/sys/net: systemd's boot jobs can change neither this
// machine's kernel settings nor its /tmp.
type SystemdNode struct {
	*Node
	PID     int    // systemd's, as this machine sees it
	Dir     string // the node's own files
	Share   string // this machine's side of the node's /mnt
	cgroups []string
	unitsCG string // the hierarchy systemd keeps its units in (name=systemd, or the unified one)
	cmd     *exec.Cmd
}

// labTarget is what a node boots: the basic system and D-Bus, nothing a
// host enabled for itself (its multi-user.target wants).
const labTarget = `[Unit]
Description=Vigil lab node
Requires=basic.target dbus.socket
After=basic.target dbus.socket
AllowIsolate=yes
`

// bootScript runs inside the node's namespaces, as their PID 1, and
// becomes systemd. Binds come first: the node's directory is under this
// machine's /tmp, which is hidden next.
const bootScript = `set -e
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /run/systemd/system
printf '%s' "$TARGET" >/run/systemd/system/vigil-lab.target
ln -s /dev/null /run/systemd/system/timers.target
mount --bind "$DIR/state" /var/lib/vigil
mount --bind "$DIR/default" /etc/default/vigil
mount --bind "$DIR/hostname" /etc/hostname
mount --bind "$DIR/www" /var/www/html
mount --bind "$DIR/sites" /etc/nginx/sites-enabled
mount --bind "$DIR/share" /mnt
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,rw /proc/sys/net
hostname "$NODE"
export container=other
exec /lib/systemd/systemd --system --unit=vigil-lab.target
`

// BootSystemd starts systemd as PID 1 of node n (a node of l), with
// /etc/default/vigil naming it, and waits for it to finish booting. Its
// processes go with the lab; its cgroups are removed at cleanup.
func (l *Lab) BootSystemd(n *Node, www string) *SystemdNode {
	l.t.Helper()
	Require(l.t, "unshare", "nsenter", "mount")
	for _, f := range []string{"/lib/systemd/systemd", "/usr/bin/dbus-daemon"} {
		if _, err := os.Stat(f); err != nil {
			l.fail("a systemd lab node needs %s (apt-get install systemd dbus)", f)
		}
	}
	sn := &SystemdNode{Node: n, Dir: filepath.Join(l.Dir, n.Name+"-systemd")}
	sn.Share = filepath.Join(sn.Dir, "share")
	for _, d := range []string{"state", "www", "sites", "share"} {
		if err := os.MkdirAll(filepath.Join(sn.Dir, d), 0o755); err != nil {
			l.t.Fatal(err)
		}
	}
	if _, err := os.Stat("/etc/default/vigil"); err != nil {
		l.t.Fatal("a systemd lab node runs the installed vigil package: install it first (dpkg -i)")
	}
	os.MkdirAll("/var/lib/vigil", 0o700) // the mount point of the node's own
	os.MkdirAll("/var/www/html", 0o755)
	os.MkdirAll("/etc/nginx/sites-enabled", 0o755)
	// The node's nginx serves this machine's default site (links
	// followed), from the node's web root.
	if b, err := os.ReadFile("/etc/nginx/sites-enabled/default"); err == nil {
		os.WriteFile(filepath.Join(sn.Dir, "sites", "default"), b, 0o644)
	}
	files := map[string]string{"default": "VIGIL_NODE=" + n.Name + "\n", "hostname": n.Name + "\n", "www/index.html": n.Name + "\n"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(sn.Dir, name), []byte(content), 0o644); err != nil {
			l.t.Fatal(err)
		}
	}
	if www != "" {
		os.WriteFile(filepath.Join(sn.Dir, "www/index.html"), []byte(www), 0o644)
	}
	// A cgroup of its own in every hierarchy: without it, every node's
	// systemd would run its services in this machine's root cgroup, all
	// nodes in the same vigil.service, and stopping one node's service
	// would kill the others'.
	var procs []string
	for _, h := range l.cgroupHierarchies() {
		dir := filepath.Join(h.mount, h.path, l.prefix+"-"+n.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			l.fail("cgroup %s: %v", dir, err)
		}
		if filepath.Base(h.mount) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, _ := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
				os.WriteFile(filepath.Join(dir, f), b, 0o644)
			}
		}
		sn.cgroups = append(sn.cgroups, dir)
		if filepath.Base(h.mount) == "systemd" || (sn.unitsCG == "" && h.unified) {
			sn.unitsCG = dir
		}
		procs = append(procs, filepath.Join(dir, "cgroup.procs"))
	}
	logPath := filepath.Join(l.Dir, n.Name+"-systemd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		l.t.Fatal(err)
	}
	// The shell joins the node's cgroups, then the node's network
	// namespace, then new ones for the rest, and becomes systemd there.
	host := `set -e; for f in ` + strings.Join(procs, " ") + `; do echo $$ >"$f"; done; ` +
		`exec ip netns exec "$NS" unshare --cgroup --pid --fork --mount --uts --propagation private --mount-proc /bin/sh -c "$BOOT"`
	cmd := exec.Command("/bin/sh", "-c", host)
	cmd.Env = append(os.Environ(), "NS="+n.NS, "BOOT="+bootScript, "TARGET="+labTarget, "DIR="+sn.Dir, "NODE="+n.Name)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	sn.cmd = cmd
	go func() { cmd.Wait(); logf.Close() }()
	l.t.Cleanup(sn.teardown)
	l.t.Cleanup(func() {
		if l.t.Failed() {
			b, _ := os.ReadFile(logPath)
			l.t.Logf("%s's systemd said:\n%s", n.Name, b)
		}
	})
	// systemd is unshare's child.
	WaitFor(l.t, 10*time.Second, n.Name+"'s systemd to start", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		if f := strings.Fields(string(b)); len(f) == 1 {
			sn.PID, _ = strconv.Atoi(f[0])
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", sn.PID))
			return strings.TrimSpace(string(comm)) == "systemd"
		}
		return false
	})
	WaitFor(l.t, 60*time.Second, n.Name+"'s systemd to finish booting", func() bool {
		out, _ := sn.Systemctl("is-system-running")
		return strings.TrimSpace(out) == "running" || strings.TrimSpace(out) == "degraded"
	})
	if out, _ := sn.Systemctl("is-system-running"); strings.TrimSpace(out) == "degraded" {
		failed, _ := sn.Systemctl("list-units", "--failed", "--no-legend", "--plain")
		l.t.Logf("%s booted degraded: %s", n.Name, failed)
	}
	return sn
}

func (l *Lab) fail(format string, args ...any) {
	l.t.Helper()
	if os.Getenv("CI") == "true" {
		l.t.Fatalf(format, args...)
	}
	l.t.Skipf("skipped: "+format, args...)
}

type hierarchy struct {
	mount, path string
	unified     bool
}

// cgroupHierarchies are this process's cgroups, one per mounted hierarchy
// (cgroup v1 controllers, name=systemd, and the unified one).
func (l *Lab) cgroupHierarchies() []hierarchy {
	mounts := map[string]string{} // controller list as /proc/self/cgroup names it -> mount point
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 {
			continue
		}
		fstype, opts, mp := fields[sep+1], fields[sep+3], fields[4]
		switch fstype {
		case "cgroup2":
			mounts[""] = mp
		case "cgroup":
			var ctrl []string
			for _, o := range strings.Split(opts, ",") {
				switch o {
				case "rw", "ro", "nosuid", "nodev", "noexec", "relatime", "clone_children", "xattr":
				default:
					ctrl = append(ctrl, o)
				}
			}
			mounts[strings.Join(ctrl, ",")] = mp
		}
	}
	b, _ := os.ReadFile("/proc/self/cgroup")
	var out []hierarchy
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if mp, ok := mounts[parts[1]]; ok {
			out = append(out, hierarchy{mount: mp, path: parts[2], unified: parts[1] == ""})
		}
	}
	return out
}

// Systemctl runs systemctl inside the node.
func (sn *SystemdNode) Systemctl(args ...string) (string, error) {
	return sn.Enter(append([]string{"systemctl"}, args...)...)
}

// MustSystemctl is Systemctl that fails the test on error.
func (sn *SystemdNode) MustSystemctl(args ...string) string {
	sn.lab.t.Helper()
	out, err := sn.Systemctl(args...)
	if err != nil {
		sn.lab.t.Fatalf("systemctl %s on %s: %v\n%s", strings.Join(args, " "), sn.Name, err, out)
	}
	return out
}

// Enter runs a command in every namespace of the node (nsenter -a).
func (sn *SystemdNode) Enter(args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(sn.PID), "-a"}, args...)...).CombinedOutput()
	return string(out), err
}

// Journal is the node's journal for a unit.
func (sn *SystemdNode) Journal(unit string) string {
	out, _ := sn.Enter("journalctl", "--no-pager", "-o", "short-precise", "-u", unit)
	return out
}

// ServicePIDs are the processes in a service's cgroup, as this machine
// numbers them.
func (sn *SystemdNode) ServicePIDs(unit string) []int {
	var out []int
	b, _ := os.ReadFile(filepath.Join(sn.unitsCG, "system.slice", unit, "cgroup.procs"))
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Poweroff stops the node's systemd as a reboot would (every service
// stopped in order), bounded in time.
func (sn *SystemdNode) Poweroff(timeout time.Duration) error {
	sn.Systemctl("--no-block", "poweroff")
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", sn.PID)); err != nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s's systemd did not power off within %v", sn.Name, timeout)
}

// teardown kills what is left of the node and removes its cgroups,
// deepest first, bounded.
func (sn *SystemdNode) teardown() {
	if sn.cmd != nil && sn.cmd.Process != nil {
		sn.cmd.Process.Kill()
	}
	if sn.PID > 0 {
		exec.Command("kill", "-9", strconv.Itoa(sn.PID)).Run() // PID 1 of its namespace: all its processes go with it
	}
	for _, cg := range sn.cgroups {
		for range 50 {
			var dirs []string
			filepath.WalkDir(cg, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				os.Remove(dirs[i])
			}
			if _, err := os.Stat(cg); err != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// Sites is this machine's side of the node's /etc/nginx/sites-enabled.
func (sn *SystemdNode) Sites() string { return filepath.Join(sn.Dir, "sites") }
