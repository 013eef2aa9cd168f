package lab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// keepalived243 is the build of keepalived 2.4.3 this process uses.
var keepalived243 struct {
	once sync.Once
	bin  string
	err  error
}

// Keepalived243 is the path of keepalived 2.4.3, built from
// test/peers/keepalived-2.4.3.tar.xz (Debian's 2.2.7 has no auth_hmac):
// once per machine into /var/cache/vigil-lab (VIGIL_LAB_CACHE), keyed by
// the tarball's hash, under a lock so that test processes running side by
// side build it once. A build that cannot run skips the test, or fails it
// under CI.
func Keepalived243(t testing.TB) string {
	t.Helper()
	Require(t, "make", "autoreconf", "gcc", "pkg-config")
	keepalived243.once.Do(func() { keepalived243.bin, keepalived243.err = buildKeepalived243() })
	if err := keepalived243.err; err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: building keepalived 2.4.3: %v", err)
		}
		t.Skipf("skipped: building keepalived 2.4.3 (test/peers/README.md lists its build dependencies): %v", err)
	}
	return keepalived243.bin
}

func buildKeepalived243() (string, error) {
	_, here, _, _ := runtime.Caller(0)
	tarball := filepath.Join(filepath.Dir(here), "..", "peers", "keepalived-2.4.3.tar.xz")
	src, err := os.ReadFile(tarball)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(src)
	cache := os.Getenv("VIGIL_LAB_CACHE")
	if cache == "" {
		cache = "/var/cache/vigil-lab"
	}
	dir := filepath.Join(cache, "keepalived-2.4.3-"+hex.EncodeToString(sum[:6]))
	bin := filepath.Join(dir, "sbin", "keepalived")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	work, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	log := filepath.Join(cache, "keepalived-2.4.3-build.log")
	script := fmt.Sprintf(`set -e
tar -xJf %q -C %q
cd %q/keepalived-2.4.3
./autogen.sh
./configure --prefix=%q --disable-lvs
make -j%d
make install`, tarball, work, work, dir, runtime.NumCPU())
	cmd := exec.Command("bash", "-c", script)
	out, err := os.Create(log)
	if err != nil {
		return "", err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("%v (log: %s)", err, log)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", err
	}
	return bin, nil
}

// StartKeepalivedBin runs keepalived 2.4.3 (Keepalived243) as
// StartKeepalived runs Debian's. It is built without LVS, so it runs the
// VRRP process alone without being told (and refuses --vrrp).
func (n *Node) StartKeepalivedBin(bin, conf string) *Proc {
	n.lab.t.Helper()
	return n.startKeepalived(bin, conf)
}

func (n *Node) startKeepalived(bin, conf string, extra ...string) *Proc {
	n.lab.t.Helper()
	base := filepath.Join(n.lab.Dir, n.Name+"-keepalived")
	if err := os.WriteFile(base+".conf", []byte(conf), 0o644); err != nil {
		n.lab.t.Fatal(err)
	}
	args := append([]string{bin, "--dont-fork", "--log-console", "--log-detail", "--no-syslog"}, extra...)
	return n.Start("keepalived", append(args, "--use-file="+base+".conf", "--pid="+base+".pid", "--vrrp_pid="+base+"-vrrp.pid")...)
}

// ReloadKeepalived rewrites the node's keepalived.conf and sends the
// running keepalived SIGHUP, as an operator's reload does.
func (n *Node) ReloadKeepalived(p *Proc, conf string) {
	n.lab.t.Helper()
	base := filepath.Join(n.lab.Dir, n.Name+"-keepalived")
	if err := os.WriteFile(base+".conf", []byte(conf), 0o644); err != nil {
		n.lab.t.Fatal(err)
	}
	if err := p.Cmd.Process.Signal(unix.SIGHUP); err != nil {
		n.lab.t.Fatal(err)
	}
}
