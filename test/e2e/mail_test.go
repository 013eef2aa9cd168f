package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/lab"
	"github.com/vigil-ha/vigil/test/mailtest"
)

// TestMailSurvivesSMTPOutage: the mail server is down for a minute while an
// instance goes through three transitions (MASTER -> FAULT -> BACKUP ->
// MASTER); when it is back, the three mails arrive from the agent's
// durable queue, in order, once each.
func TestMailSurvivesSMTPOutage(t *testing.T) {
	outage := time.Minute
	if testing.Short() {
		outage = 5 * time.Second
	}
	l := lab.New(t, 1)
	n := l.Nodes[0]
	mail := mailtest.New(mailtest.Options{})
	mail.Start(n.Listen(fmt.Sprintf("127.0.0.1:%d", smtpPort)))
	t.Cleanup(mail.Stop)
	flag := inServiceFlag(t)
	s := site{version: 3, interval: "100ms"}
	base := s.pluginPolicy(t, l, 1, 1, `  plugin_user = "nobody"
  notify      = ["ops-mail"]`, []string{"in-service"}, fmt.Sprintf(`
check "in-service" {
  plugin   = "file-check"
  interval = "1s"
  weight   = 0 # failing means FAULT

  config {
    path = %q
    poll = "20ms"
  }
}

plugin "file-check" {
  path = %q
}

notifier "ops-mail" {
  plugin = "smtp-notify"

  config {
    server          = "127.0.0.1"
    port            = %d
    connect_timeout = "5s"
    from            = "failover@example.org"
    to              = ["ops@example.org"]
  }
}
`, flag, fileCheckBin, smtpPort))
	v := startVigil(t, l, n, base)
	defer func() {
		if t.Failed() {
			t.Log(v.Output())
		}
	}()
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	lab.WaitFor(t, 10*time.Second, "the start-up mails", func() bool { return len(mail.Messages()) == 2 })

	mail.Stop()
	down := time.Now()
	os.Remove(flag)
	lab.WaitFor(t, 5*time.Second, "FAULT", func() bool { return v.state("VI_1") == "FAULT" })
	os.WriteFile(flag, []byte("ok"), 0o644)
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	lab.WaitFor(t, 5*time.Second, "MASTER", func() bool { return v.state("VI_1") == "MASTER" })
	lab.WaitFor(t, outage, "a failed delivery", func() bool { return v.Count("notifier failed; event kept for retry: node=n1 notifier=ops-mail") > 0 })
	time.Sleep(time.Until(down.Add(outage)))
	mail.Start(n.Listen(fmt.Sprintf("127.0.0.1:%d", smtpPort)))
	back := time.Now()
	lab.WaitFor(t, 45*time.Second, "the three mails after the outage", func() bool { return len(mail.Messages()) >= 5 })
	t.Logf("three mails delivered %v after the server came back", time.Since(back).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // any duplicate would come now

	var got []string
	ids := map[string]bool{}
	for _, m := range mail.Messages() {
		got = append(got, m.Header.Get("Subject"))
		if ids[m.Header.Get("Message-Id")] {
			t.Errorf("mail delivered twice: %s", m.Header.Get("Message-Id"))
		}
		ids[m.Header.Get("Message-Id")] = true
	}
	want := []string{
		"[n1] VRRP Instance VI_1 - Entering BACKUP state",
		"[n1] VRRP Instance VI_1 - Entering MASTER state",
		"[n1] VRRP Instance VI_1 - Entering FAULT state",
		"[n1] VRRP Instance VI_1 - Entering BACKUP state",
		"[n1] VRRP Instance VI_1 - Entering MASTER state",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mails:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
