package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestSyncGroupMovesTogether: VI_1 and VI_2 in one sync group, both owned
// by n1. A check only VI_1 tracks fails on n1: VI_1 goes to FAULT and takes
// VI_2 with it, n2 takes both (one following the other into MASTER); the
// check passes again and n1 takes both back.
func TestSyncGroupMovesTogether(t *testing.T) {
	l := lab.New(t, 2)
	dir := pluginDir(t)
	flag := filepath.Join(dir, "in-service")
	os.WriteFile(flag, []byte("ok"), 0o644)
	s := site{version: 3, interval: "100ms"}
	pol := fmt.Sprintf(`site "lab" {
  plugin_user = "nobody"
}

node "n1" {
  interface = "eth0"
  address   = %q
}

node "n2" {
  interface = "eth0"
  address   = %q
}

instance "VI_1" {
  vrid            = 21
  version         = 3
  advert_interval = "100ms"
  vips            = ["%s/24"]
  priority        = { n1 = 100, n2 = 80 }
  track           = ["in-service"]
}

instance "VI_2" {
  vrid            = 22
  version         = 3
  advert_interval = "100ms"
  vips            = ["%s/24"]
  priority        = { n1 = 100, n2 = 80 }
}

sync_group "G" {
  instances = ["VI_1", "VI_2"]
}

check "in-service" {
  plugin   = "file-check"
  interval = "1s"
  nodes    = ["n1"]

  config {
    path = %q
    poll = "20ms"
  }
}

plugin "file-check" {
  path = %q
}
`, l.Nodes[0].Addr4, l.Nodes[1].Addr4, s.vipOf(0), s.vipOf(1), flag, fileCheckBin)
	path := filepath.Join(l.Dir, "sync.hcl")
	os.WriteFile(path, []byte(pol), 0o644)
	v1 := startVigil(t, l, l.Nodes[0], path)
	v2 := startVigil(t, l, l.Nodes[1], path)
	defer func() {
		if t.Failed() {
			t.Logf("n1:\n%s\nn2:\n%s", v1.Output(), v2.Output())
		}
	}()
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	waitOwner(t, l, s.vipOf(1), "n1", 5*time.Second)

	os.Remove(flag)
	waitOwner(t, l, s.vipOf(0), "n2", 5*time.Second)
	waitOwner(t, l, s.vipOf(1), "n2", 5*time.Second)
	if st := v1.state("VI_2"); st != "FAULT" {
		t.Errorf("n1's VI_2 is %s; its sync group is in FAULT", st)
	}
	if !regexp.MustCompile(`VI_2 entering FAULT state: .*sync group G: VI_1 is in FAULT`).MatchString(v1.Output()) {
		t.Errorf("n1 did not say VI_2 follows VI_1 into FAULT")
	}
	if !regexp.MustCompile(`VI_\d entering MASTER state: .*sync group G: VI_\d entered MASTER`).MatchString(v2.Output()) {
		t.Errorf("on n2 neither instance followed the other into MASTER")
	}

	os.WriteFile(flag, []byte("ok"), 0o644)
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	waitOwner(t, l, s.vipOf(1), "n1", 5*time.Second)
	for _, in := range []string{"VI_1", "VI_2"} {
		if st := v2.state(in); st != "BACKUP" {
			t.Errorf("n2's %s ended %s", in, st)
		}
	}
}
