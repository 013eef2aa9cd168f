package smtpnotify_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/plugins/smtpnotify"
	"github.com/vigil-ha/vigil/sdk"
	"github.com/vigil-ha/vigil/test/mailtest"
)

var event = sdk.Event{Seq: 7, Site: "sgcc-lb", Node: "lb01", RouterID: "lb01", Instance: "VI_1", From: "BACKUP", To: "MASTER",
	Reason: "master down timer expired", Time: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), Priority: 100, VIPs: []string{"192.0.2.24/24"}}

// serve starts a mail server on loopback and returns it with its host and port.
func serve(t *testing.T, opts mailtest.Options) (*mailtest.Server, string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := mailtest.New(opts)
	s.Start(ln)
	t.Cleanup(s.Stop)
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	return s, host, p
}

func configured(t *testing.T, cfg map[string]any) *smtpnotify.Notifier {
	t.Helper()
	n := smtpnotify.New().(*smtpnotify.Notifier)
	if err := n.Configure(context.Background(), cfg); err != nil {
		t.Fatalf("Configure(%v): %v", cfg, err)
	}
	return n
}

func TestMailReadsLikeKeepalived(t *testing.T) {
	srv, host, port := serve(t, mailtest.Options{})
	n := configured(t, map[string]any{"server": host, "port": float64(port), "from": "failover@example.org",
		"to": []any{"ops@example.org", "oncall@example.org"}, "connect_timeout": "30s"})
	if err := n.Notify(context.Background(), event); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if got := m.Header.Get("Subject"); got != "[lb01] VRRP Instance VI_1 - Entering MASTER state" {
		t.Errorf("subject %q", got)
	}
	if m.From != "failover@example.org" || strings.Join(m.To, ",") != "ops@example.org,oncall@example.org" {
		t.Errorf("envelope from %q to %v", m.From, m.To)
	}
	if d, err := m.Header.Date(); err != nil || !d.Equal(event.Time) {
		t.Errorf("Date %v (%v), want the transition's time %v", d, err, event.Time)
	}
	if got, want := m.Header.Get("Message-Id"), "<"+n.MessageID(event)+">"; got != want {
		t.Errorf("Message-ID %q, want %q", got, want)
	}
	for _, want := range []string{"VI_1 on lb01", "entered MASTER state", "leaving BACKUP", "master down timer expired", "192.0.2.24/24", "now owns"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
}

// TestGroupMail: a sync group's event reads as keepalived's group alert.
func TestGroupMail(t *testing.T) {
	srv, host, port := serve(t, mailtest.Options{})
	n := configured(t, map[string]any{"server": host, "port": float64(port), "from": "failover@example.org", "to": []any{"ops@example.org"}})
	ev := event
	ev.Instance, ev.Group = "", "VG_1"
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0]
	if got := m.Header.Get("Subject"); got != "[lb01] VRRP Group VG_1 - Entering MASTER state" {
		t.Errorf("subject %q", got)
	}
	if !strings.Contains(m.Body, "sync group VG_1 on lb01") {
		t.Errorf("body %q", m.Body)
	}
}

func TestTemplates(t *testing.T) {
	srv, host, port := serve(t, mailtest.Options{})
	n := configured(t, map[string]any{"server": host + ":" + strconv.Itoa(port), "from": "vigil@example.org", "to": []any{"ops@example.org"},
		"subject": "{{.Site}}/{{.Node}}: {{.Instance}} {{lower .To}}", "body": "seq {{.Seq}} prio {{.Priority}}\n"})
	if err := n.Notify(context.Background(), event); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0]
	if got := m.Header.Get("Subject"); got != "sgcc-lb/lb01: VI_1 master" {
		t.Errorf("subject %q", got)
	}
	if !strings.Contains(m.Body, "seq 7 prio 100") {
		t.Errorf("body %q", m.Body)
	}
}

func TestAuthAndTLS(t *testing.T) {
	tlsCfg, certPEM, err := mailtest.SelfSigned("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, certPEM, 0o644)
	base := func(port int) map[string]any {
		return map[string]any{"server": "127.0.0.1", "port": float64(port), "from": "vigil@example.org", "to": []any{"ops@example.org"}}
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	t.Run("starttls required and offered, with auth", func(t *testing.T) {
		srv, _, port := serve(t, mailtest.Options{TLS: tlsCfg, Username: "vigil", Password: "s3cret"})
		n := configured(t, with(base(port), "tls", "starttls", "ca_file", ca, "username", "vigil", "password", "s3cret"))
		if err := n.Notify(context.Background(), event); err != nil {
			t.Fatal(err)
		}
		if len(srv.Messages()) != 1 {
			t.Fatal("no message")
		}
	})
	t.Run("wrong password is an error", func(t *testing.T) {
		_, _, port := serve(t, mailtest.Options{TLS: tlsCfg, Username: "vigil", Password: "s3cret"})
		n := configured(t, with(base(port), "tls", "starttls", "ca_file", ca, "username", "vigil", "password", "wrong"))
		if err := n.Notify(context.Background(), event); err == nil {
			t.Fatal("delivered with a wrong password")
		}
	})
	t.Run("starttls required but not offered is an error", func(t *testing.T) {
		srv, _, port := serve(t, mailtest.Options{})
		n := configured(t, with(base(port), "tls", "starttls"))
		if err := n.Notify(context.Background(), event); err == nil || len(srv.Messages()) != 0 {
			t.Fatalf("delivered in clear text although starttls is required (err %v)", err)
		}
	})
	t.Run("untrusted certificate is refused by default", func(t *testing.T) {
		srv, _, port := serve(t, mailtest.Options{TLS: tlsCfg})
		n := configured(t, with(base(port), "tls", "starttls"))
		if err := n.Notify(context.Background(), event); err == nil || len(srv.Messages()) != 0 {
			t.Fatalf("delivered to an unverified server (err %v)", err)
		}
	})
	t.Run("implicit TLS", func(t *testing.T) {
		srv, _, port := serve(t, mailtest.Options{TLS: tlsCfg, Implicit: true})
		n := configured(t, with(base(port), "tls", "implicit", "ca_file", ca))
		if err := n.Notify(context.Background(), event); err != nil {
			t.Fatal(err)
		}
		if len(srv.Messages()) != 1 {
			t.Fatal("no message")
		}
	})
}

func TestServerDownIsAnError(t *testing.T) {
	srv, host, port := serve(t, mailtest.Options{})
	srv.Stop()
	n := configured(t, map[string]any{"server": host, "port": float64(port), "from": "vigil@example.org", "to": []any{"ops@example.org"}, "connect_timeout": "2s"})
	start := time.Now()
	if err := n.Notify(context.Background(), event); err == nil {
		t.Fatal("Notify succeeded with the server down")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %v with a 2s connect timeout", time.Since(start))
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  map[string]any
		attr string
	}{
		{map[string]any{"from": "a@example.org", "to": []any{"b@example.org"}}, "server"},
		{map[string]any{"server": "192.0.2.25", "to": []any{"b@example.org"}}, "from"},
		{map[string]any{"server": "192.0.2.25", "from": "a@example.org"}, "to"},
		{map[string]any{"server": "192.0.2.25", "from": "a@example.org", "to": []any{"not an address"}}, "to"},
		{map[string]any{"server": "192.0.2.25", "from": "a@example.org", "to": []any{"b@example.org"}, "tls": "sometimes"}, "tls"},
		{map[string]any{"server": "192.0.2.25:25", "port": float64(587), "from": "a@example.org", "to": []any{"b@example.org"}}, "port"},
		{map[string]any{"server": "192.0.2.25", "from": "a@example.org", "to": []any{"b@example.org"}, "username": "u"}, "username"},
		{map[string]any{"server": "192.0.2.25", "from": "a@example.org", "to": []any{"b@example.org"}, "subject": "{{.Nope}}"}, "subject"},
		{map[string]any{"server": "192.0.2.25", "from": "a@example.org", "to": []any{"b@example.org"}, "body": "{{"}, "body"},
		{map[string]any{"server": "192.0.2.25", "from": "a@example.org", "to": []any{"b@example.org"}, "ca_file": "/nonexistent"}, "ca_file"},
		{map[string]any{"server": "192.0.2.25", "from": "a@example.org", "to": []any{"b@example.org"}, "smtp_server": "x"}, "smtp_server"},
	}
	for _, c := range cases {
		err := smtpnotify.New().Configure(context.Background(), c.cfg)
		ce, ok := err.(sdk.ConfigErrors)
		if !ok || len(ce) == 0 || ce[0].Attribute != c.attr {
			t.Errorf("Configure(%v) = %v, want an error on %q", c.cfg, err, c.attr)
		}
	}
}

// TestPriorityChangeSendsNoMail: keepalived mails state changes only; a
// priority change (notify_priority_changes) is not one.
func TestPriorityChangeSendsNoMail(t *testing.T) {
	srv, host, port := serve(t, mailtest.Options{})
	n := configured(t, map[string]any{"server": host, "port": float64(port), "from": "vigil@example.org", "to": []any{"ops@example.org"}})
	ev := event
	ev.From, ev.PriorityChange = ev.To, true
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := len(srv.Messages()); got != 0 {
		t.Errorf("%d mails for a priority change", got)
	}
}
