// Package smtpnotify is the smtp-notify notifier: one mail per state
// change, as keepalived's SMTP alerts, through wneessen/go-mail. A mail
// that cannot be delivered is an error, and the agent's durable queue
// retries it; the Message-ID is derived from the event, so a retried mail
// is recognisably the same mail.
package smtpnotify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"text/template"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/vigil-ha/vigil/sdk"
)

// DefaultSubject reads like keepalived's alert subject.
const DefaultSubject = "[{{.RouterID}}] VRRP {{if .Group}}Group {{.Group}}{{else}}Instance {{.Instance}}{{end}} - Entering {{.To}} state"

// DefaultBody says what happened and what it means for the addresses.
const DefaultBody = `VRRP {{if .Group}}sync group {{.Group}}{{else}}instance {{.Instance}}{{end}} on {{.RouterID}} (site {{.Site}}) entered {{.To}} state at {{.Time.Format "2006-01-02 15:04:05.000 MST"}}, leaving {{.From}}.
Reason: {{.Reason}}
Virtual addresses: {{join .VIPs ", "}}
{{if eq .To "MASTER"}}This node now owns them.{{else if eq .From "MASTER"}}This node no longer owns them.{{else}}This node does not own them.{{end}}
`

var _ sdk.Notifier = (*Notifier)(nil)

// Notifier implements sdk.Notifier.
type Notifier struct {
	cfg struct {
		Server             string       `json:"server"`
		Port               int          `json:"port"`
		From               string       `json:"from"`
		To                 []string     `json:"to"`
		ConnectTimeout     sdk.Duration `json:"connect_timeout"`
		TLS                string       `json:"tls"`
		InsecureSkipVerify bool         `json:"insecure_skip_verify"`
		CAFile             string       `json:"ca_file"`
		Username           string       `json:"username"`
		Password           string       `json:"password"`
		HELO               string       `json:"helo"`
		Subject            string       `json:"subject"`
		Body               string       `json:"body"`
	}
	host          string
	roots         *x509.CertPool // nil: the system's
	subject, body *template.Template
	domain        string
}

// New returns an unconfigured notifier.
func New() sdk.Base { return &Notifier{} }

// Info names the plugin.
func (n *Notifier) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "smtp-notify", Kind: sdk.KindNotifier, Version: "1"}, nil
}

var funcs = template.FuncMap{"join": strings.Join, "lower": strings.ToLower, "upper": strings.ToUpper}

// Configure validates every setting, without connecting anywhere.
func (n *Notifier) Configure(_ context.Context, m map[string]any) error {
	if err := sdk.DecodeConfig(m, &n.cfg); err != nil {
		return err
	}
	var errs sdk.ConfigErrors
	bad := func(attr, msg string) { errs = append(errs, sdk.ConfigError{Attribute: attr, Message: msg}) }
	n.configureServer(bad)
	n.configureAddresses(bad)
	n.configureTemplates(bad)
	if len(errs) > 0 {
		return errs
	}
	// A template that names a field events do not have fails now, not at
	// the first failover.
	if _, _, err := n.render(sampleEvent); err != nil {
		return sdk.ConfigErrors{{Attribute: "subject", Message: err.Error()}}
	}
	return nil
}

// configureServer checks and completes where and how to connect: server
// and port, TLS mode, CA file, credentials, timeout.
func (n *Notifier) configureServer(bad func(attr, msg string)) {
	c := &n.cfg
	n.host = c.Server
	if h, p, err := net.SplitHostPort(c.Server); err == nil {
		port, perr := strconv.Atoi(p)
		switch {
		case perr != nil || port < 1 || port > 65535:
			bad("server", fmt.Sprintf("%q has no valid port", c.Server))
		case c.Port != 0 && c.Port != port:
			bad("port", fmt.Sprintf("%d contradicts the port in server %q", c.Port, c.Server))
		}
		n.host, c.Port = h, port
	}
	if n.host == "" {
		bad("server", "required: the SMTP server's name or address, e.g. \"192.0.2.25\"")
	}
	switch c.TLS {
	case "":
		c.TLS = "opportunistic"
	case "opportunistic", "starttls", "implicit", "none":
	default:
		bad("tls", fmt.Sprintf("%q is not one of \"opportunistic\" (STARTTLS when offered), \"starttls\" (required), \"implicit\" (TLS from the start) or \"none\"", c.TLS))
	}
	if c.Port == 0 {
		c.Port = map[string]int{"implicit": 465, "starttls": 587}[c.TLS]
		if c.Port == 0 {
			c.Port = 25
		}
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("port", fmt.Sprintf("%d is not a TCP port", c.Port))
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = sdk.Duration(30 * time.Second) // keepalived's smtp_connect_timeout
	}
	if c.ConnectTimeout < 0 {
		bad("connect_timeout", "must be positive")
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		n.roots = x509.NewCertPool()
		switch {
		case err != nil:
			bad("ca_file", err.Error())
		case !n.roots.AppendCertsFromPEM(pem):
			bad("ca_file", fmt.Sprintf("%s holds no PEM certificate", c.CAFile))
		}
	}
	if (c.Username == "") != (c.Password == "") {
		bad("username", "username and password go together")
	}
}

// configureAddresses checks the sender and the recipients.
func (n *Notifier) configureAddresses(bad func(attr, msg string)) {
	c := &n.cfg
	if a, err := mail.ParseAddress(c.From); err != nil {
		bad("from", fmt.Sprintf("%q is not a mail address: %v", c.From, err))
	} else if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
		n.domain = a.Address[i+1:]
	}
	if len(c.To) == 0 {
		bad("to", "required: at least one recipient")
	}
	for _, t := range c.To {
		if _, err := mail.ParseAddress(t); err != nil {
			bad("to", fmt.Sprintf("%q is not a mail address: %v", t, err))
		}
	}
}

// configureTemplates parses the subject and body, or their defaults.
func (n *Notifier) configureTemplates(bad func(attr, msg string)) {
	c := &n.cfg
	var err error
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if n.subject, err = template.New("subject").Funcs(funcs).Option("missingkey=error").Parse(c.Subject); err != nil {
		bad("subject", err.Error())
	}
	if c.Body == "" {
		c.Body = DefaultBody
	}
	if n.body, err = template.New("body").Funcs(funcs).Option("missingkey=error").Parse(c.Body); err != nil {
		bad("body", err.Error())
	}
}

var sampleEvent = sdk.Event{Seq: 1, Site: "site", Node: "node", RouterID: "node", Instance: "VI_1", From: "BACKUP", To: "MASTER",
	Reason: "master down timer expired", Time: time.Unix(0, 0), Priority: 100, VIPs: []string{"192.0.2.24/24"}}

func (n *Notifier) render(ev sdk.Event) (subject, body string, err error) {
	var s, b strings.Builder
	if err := n.subject.Execute(&s, ev); err != nil {
		return "", "", fmt.Errorf("subject template: %w", err)
	}
	if err := n.body.Execute(&b, ev); err != nil {
		return "", "", fmt.Errorf("body template: %w", err)
	}
	// A subject is one line whatever the template made of it.
	return strings.Join(strings.Fields(s.String()), " "), b.String(), nil
}

// MessageID is the same for every delivery attempt of one event.
func (n *Notifier) MessageID(ev sdk.Event) string {
	return fmt.Sprintf("vigil.%s.%s.%d.%d@%s", ev.Site, ev.Node, ev.Seq, ev.Time.UnixNano(), n.domain)
}

// Notify sends one mail; an error leaves the event queued for a retry.
func (n *Notifier) Notify(ctx context.Context, ev sdk.Event) error {
	if ev.PriorityChange {
		return nil // keepalived mails state changes only
	}
	subject, body, err := n.render(ev)
	if err != nil {
		return err
	}
	m := gomail.NewMsg()
	if err := m.From(n.cfg.From); err != nil {
		return err
	}
	if err := m.To(n.cfg.To...); err != nil {
		return err
	}
	m.Subject(subject)
	m.SetDateWithValue(ev.Time) // the time of the transition, however late the mail
	m.SetMessageIDWithValue(n.MessageID(ev))
	m.SetGenHeader("X-Vigil-Event", fmt.Sprintf("%d %s %s %s->%s", ev.Seq, ev.Node, ev.Instance+ev.Group, ev.From, ev.To))
	m.SetBodyString(gomail.TypeTextPlain, body)

	opts := []gomail.Option{gomail.WithPort(n.cfg.Port), gomail.WithTimeout(time.Duration(n.cfg.ConnectTimeout)),
		gomail.WithTLSConfig(&tls.Config{ServerName: n.host, RootCAs: n.roots, InsecureSkipVerify: n.cfg.InsecureSkipVerify})}
	switch n.cfg.TLS {
	case "opportunistic":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "implicit":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if n.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(n.cfg.Username), gomail.WithPassword(n.cfg.Password))
	}
	if n.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(n.cfg.HELO))
	}
	c, err := gomail.NewClient(n.host, opts...)
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("mail to %s via %s:%d: %w", strings.Join(n.cfg.To, ", "), n.host, n.cfg.Port, err)
	}
	return nil
}
