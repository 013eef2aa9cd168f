package e2e

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
	"github.com/vigil-ha/vigil/test/mailtest"
)

const (
	seedHost    = "www.example.test" // the name-based virtual host nginx serves
	backendPort = 8080
	smtpPort    = 2525
)

var backendAddr = netip.MustParseAddr("192.0.2.98")

// seedLab is the seed's site in the lab: three nodes, each running Debian's
// nginx as a reverse proxy (port 8088, one virtual host) to a backend in a
// namespace of its own, which also runs the site's mail server.
type seedLab struct {
	*lab.Lab
	nginx      []*lab.Nginx
	mail       *mailtest.Server
	backend    *lab.Node
	policy     string
	policySite site
	vigil      []*vigilNode
}

// newSeedLab builds the lab and starts nginx everywhere; policyFor writes
// the policy the agents run.
func newSeedLab(t *testing.T, s site) *seedLab {
	lab.Require(t, "nginx")
	sl := &seedLab{Lab: lab.New(t, 3), policySite: s}
	sl.backend = sl.AddNode("backend", 98)
	sl.backend.ServeHTTP(backendPort, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s via backend\n", r.Header.Get("X-Served-By"))
	}))
	sl.mail = mailtest.New(mailtest.Options{})
	sl.mail.Start(sl.backend.Listen(fmt.Sprintf(":%d", smtpPort)))
	t.Cleanup(sl.mail.Stop)
	for _, n := range sl.Nodes {
		sl.nginx = append(sl.nginx, n.StartNginxProxy(probePort, seedHost, netip.AddrPortFrom(backendAddr, backendPort)))
	}
	sl.policy = seedPolicy(t, sl.Lab, s, sl.nginx)
	return sl
}

// seedPolicy is policies/sgcc-lb.hcl for the lab: the same instances,
// priorities, check, action and mail. The lab's namespaces share one
// filesystem, so each node's nginx check and action are their own blocks
// (nodes = [...]) with their own pid file; on real nodes one block serves all.
func seedPolicy(t *testing.T, l *lab.Lab, s site, ngx []*lab.Nginx) string {
	base := s.policy(t, l, 3, 3)
	src, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	pol := strings.Replace(string(src), `site "lab" {}`, `site "lab" {
  plugin_user = "nobody"
  notify      = ["ops-mail"]
}

# Starting nginx needs root, as the seed's script had.
plugin "nginx-action" {
  user = "root"
}`, 1)
	var tracks []string
	for _, n := range l.Nodes {
		tracks = append(tracks, fmt.Sprintf("%q", "nginx-"+n.Name))
	}
	pol = regexp.MustCompile(`(?m)^(  priority        = .*)$`).ReplaceAllString(pol, "$1\n  track           = ["+strings.Join(tracks, ", ")+"]")
	var b strings.Builder
	b.WriteString(pol)
	for i, n := range l.Nodes {
		var start []string
		for _, a := range ngx[i].Command() {
			start = append(start, fmt.Sprintf("%q", a))
		}
		fmt.Fprintf(&b, `
check "nginx-%[1]s" {
  plugin   = "nginx-process"
  interval = "4s"
  weight   = -25
  nodes    = [%[1]q]

  config {
    pid_file = %[2]q
  }
}

action "nginx-recover-%[1]s" {
  plugin = "nginx-action"
  when   = "nginx-%[1]s"

  config {
    start    = [%[3]s]
    wait     = "5s"
    pid_file = %[2]q
  }
}
`, n.Name, ngx[i].PIDFile, strings.Join(start, ", "))
	}
	fmt.Fprintf(&b, `
notifier "ops-mail" {
  plugin = "smtp-notify"

  config {
    server          = %q
    port            = %d
    connect_timeout = "30s"
    from            = "failover@example.org"
    to              = ["ops@example.org"]
  }
}
`, backendAddr, smtpPort)
	path := filepath.Join(l.Dir, "seed.hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (sl *seedLab) start(t *testing.T) {
	for _, n := range sl.Nodes {
		sl.vigil = append(sl.vigil, startVigil(t, sl.Lab, n, sl.policy))
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("VIGIL_E2E_LOGS") != "" {
			for _, v := range sl.vigil {
				t.Logf("%s:\n%s", v.node.Name, v.Output())
			}
		}
	})
}

// served asks for the virtual host through addr from the client and
// returns which node's nginx answered ("n1 via backend").
func (sl *seedLab) served(addr netip.Addr) string {
	body, err := sl.Client.HTTPGet(addr, probePort, seedHost, 200*time.Millisecond)
	if err != nil {
		return err.Error()
	}
	return body
}

func (sl *seedLab) transitions(t *testing.T) []int {
	var out []int
	for i := range sl.vigil {
		n := 0
		for inst := 1; inst <= 3; inst++ {
			n += sl.vigil[i].status(t, fmt.Sprintf("VI_%d", inst)).Transitions
		}
		out = append(out, n)
	}
	return out
}

var transitionLine = regexp.MustCompile(`(VI_\d) entering (\w+) state`)

// checkMail waits until every transition each node logged has arrived as
// one mail, then checks they came in the node's order, once each.
func (sl *seedLab) checkMail(t *testing.T, within time.Duration) {
	t.Helper()
	want := map[string][]string{}
	count := 0
	for _, v := range sl.vigil {
		for _, m := range transitionLine.FindAllStringSubmatch(v.Output(), -1) {
			want[v.node.Name] = append(want[v.node.Name], m[1]+" "+m[2])
			count++
		}
	}
	lab.WaitFor(t, within, fmt.Sprintf("%d mails", count), func() bool { return len(sl.mail.Messages()) >= count })
	got := map[string][]string{}
	for _, m := range sl.mail.Messages() {
		// X-Vigil-Event: "SEQ NODE INSTANCE FROM->TO"
		f := strings.Fields(m.Header.Get("X-Vigil-Event"))
		if len(f) != 4 {
			t.Fatalf("mail without a readable X-Vigil-Event: %v", m.Header)
		}
		to := f[3][strings.Index(f[3], "->")+2:]
		got[f[1]] = append(got[f[1]], f[2]+" "+to)
		subject := fmt.Sprintf("[%s] VRRP Instance %s - Entering %s state", f[1], f[2], to)
		if m.Header.Get("Subject") != subject {
			t.Errorf("subject %q, want %q", m.Header.Get("Subject"), subject)
		}
	}
	for node, w := range want {
		if strings.Join(got[node], ", ") != strings.Join(w, ", ") {
			t.Errorf("%s mails:\n  %s\nwant, in the order logged:\n  %s", node, strings.Join(got[node], ", "), strings.Join(w, ", "))
		}
	}
}

// TestSeedSiteWithNginx is the seed's site end to end on real nginx: the
// client is served through all three VIPs; nginx killed but restartable is
// restarted and nothing moves; nginx killed for good (its configuration
// broken) yields the node's addresses to the right backups while the
// daemon keeps running, and they come back when nginx does; every
// transition is mailed, in order, once.
func TestSeedSiteWithNginx(t *testing.T) {
	s := site{version: 2, interval: "1s", auth: "1322"}
	sl := newSeedLab(t, s)
	sl.start(t)
	for i, n := range sl.Nodes {
		waitOwner(t, sl.Lab, s.vipOf(i), n.Name, 10*time.Second)
	}
	for i, n := range sl.Nodes {
		if got := sl.served(s.vipOf(i)); got != n.Name+" via backend" {
			t.Errorf("client through %v: %q, want %s's nginx", s.vipOf(i), got, n.Name)
		}
	}

	// nginx on n1 dies and can be restarted: nothing moves.
	before := sl.transitions(t)
	sl.nginx[0].Kill()
	lab.WaitFor(t, 10*time.Second, "n1's action to recover nginx", func() bool {
		return sl.vigil[0].Count("action recovered: node=n1 action=nginx-recover-n1") == 1
	})
	if sl.nginx[0].MasterPID() == 0 {
		t.Fatal("the action reported recovered but no nginx master runs on n1")
	}
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if h := holders(sl.Lab, s.vipOf(0)); len(h) != 1 || h[0] != "n1" {
			t.Fatalf("VI_1's address moved while nginx was restarted: on %v", h)
		}
	}
	if after := sl.transitions(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("transitions %v -> %v: a restarted nginx must move nothing", before, after)
	}
	if got := sl.served(s.vipOf(0)); got != "n1 via backend" {
		t.Errorf("after the restart, VI_1 answered %q", got)
	}
	if n := sl.vigil[0].Count("action recovered: node=n1 action=nginx-recover-n1"); n != 1 {
		t.Errorf("%d recovered events, want 1", n)
	}

	// nginx on n2 dies and cannot start (its configuration is broken): n2
	// yields; VI_2 goes to n1, its backup at 80 (not n3 at 60).
	sl.nginx[1].Break()
	killed := time.Now()
	sl.nginx[1].Kill()
	lab.WaitFor(t, 5*time.Second, "the client served through VI_2 by n1", func() bool {
		got := sl.served(s.vipOf(1))
		if os.Getenv("VIGIL_E2E_LOGS") != "" {
			t.Logf("%v %s", time.Since(killed), got)
		}
		return got == "n1 via backend"
	})
	t.Logf("VI_2 served by n1 %v after nginx was killed on n2", time.Since(killed).Round(time.Millisecond))
	waitOwner(t, sl.Lab, s.vipOf(1), "n1", 2*time.Second)
	// The fast handover: n2 resigned for the live n1, and n1, the policy's
	// successor, did not wait out a timer.
	if !strings.Contains(sl.vigil[1].Output(), "below live backup n1 (80)") && !strings.Contains(sl.vigil[1].Output(), "VI_2 sent 0 priority") {
		t.Errorf("n2 did not resign VI_2")
	}
	if !strings.Contains(sl.vigil[0].Output(), "successor by site policy") {
		t.Errorf("n1 did not take VI_2 over as the policy's successor")
	}
	lab.WaitFor(t, 3*time.Second, "n2's instances in FAULT", func() bool {
		return sl.vigil[1].state("VI_1") == "FAULT" && sl.vigil[1].state("VI_2") == "FAULT" && sl.vigil[1].state("VI_3") == "FAULT"
	})
	if !sl.vigil[1].Running() {
		t.Fatal("the agent on n2 exited; yielding must keep it running")
	}
	for i, want := range []string{"n1", "n1", "n3"} {
		if got := sl.served(s.vipOf(i)); got != want+" via backend" {
			t.Errorf("with n2 yielded, VI_%d answered %q, want %s", i+1, got, want)
		}
	}

	// nginx repaired and started by hand: n2 rejoins and takes VI_2 back.
	sl.nginx[1].Repair()
	sl.nginx[1].Start()
	waitOwner(t, sl.Lab, s.vipOf(1), "n2", 10*time.Second)
	if got := sl.served(s.vipOf(1)); got != "n2 via backend" {
		t.Errorf("after n2's nginx is back, VI_2 answered %q", got)
	}
	sl.checkMail(t, 10*time.Second)
}

// TestNginxYieldToKeepalivedBackups: a mixed site, Vigil on n1 and the
// seed's keepalived (script check, weight -25) on n2 and n3. nginx dies for
// good on n1: Vigil resigns VI_1 for n3, which it hears alive as VI_3's
// master, and n3's keepalived takes over after its skew time, not after
// its master-down interval.
func TestNginxYieldToKeepalivedBackups(t *testing.T) {
	lab.Require(t, "keepalived")
	s := site{version: 2, interval: "1s", auth: "1322"}
	sl := newSeedLab(t, s)
	v := startVigil(t, sl.Lab, sl.Nodes[0], sl.policy)
	sl.vigil = []*vigilNode{v}
	for i := 1; i < 3; i++ {
		sl.Nodes[i].StartKeepalived(keepalivedNginxConf(t, sl, i, "weight"))
	}
	defer func() {
		if t.Failed() {
			t.Log(v.Output())
		}
	}()
	for i, n := range sl.Nodes {
		waitOwner(t, sl.Lab, s.vipOf(i), n.Name, 15*time.Second)
	}
	sl.nginx[0].Break()
	killed := time.Now()
	sl.nginx[0].Kill()
	lab.WaitFor(t, 5*time.Second, "the client served through VI_1 by n3", func() bool { return sl.served(s.vipOf(0)) == "n3 via backend" })
	took := time.Since(killed)
	t.Logf("VI_1 served by n3's nginx %v after nginx was killed on n1", took.Round(time.Millisecond))
	if !strings.Contains(v.Output(), "below live backup n3 (80)") {
		t.Errorf("n1 did not resign VI_1 for n3")
	}
	waitOwner(t, sl.Lab, s.vipOf(0), "n3", time.Second)
	for i, want := range []string{"n3", "n2", "n3"} {
		if got := sl.served(s.vipOf(i)); got != want+" via backend" {
			t.Errorf("VI_%d answered %q, want %s", i+1, got, want)
		}
	}
}
