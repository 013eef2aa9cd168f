// Package httpprobe is the http-probe check: a request to a URL must come
// back with an expected status (and, if set, a body matching a pattern).
// A Host header reaches name-based virtual hosts, such as the seed site's.
package httpprobe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/vigil-ha/vigil/sdk"
)

var _ sdk.Check = (*Probe)(nil)

// Probe implements sdk.Check.
type Probe struct {
	cfg struct {
		URL                string `json:"url"`
		Method             string `json:"method"`
		Status             []int  `json:"status"`
		BodyRegex          string `json:"body_regex"`
		Host               string `json:"host"`
		InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	}
	body   *regexp.Regexp
	client *http.Client
}

// New returns an unconfigured probe.
func New() sdk.Base { return &Probe{} }

// Info names the plugin.
func (p *Probe) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "http-probe", Kind: sdk.KindCheck, Version: "1"}, nil
}

// Configure validates url, method, status, body_regex, host and TLS settings.
func (p *Probe) Configure(_ context.Context, c map[string]any) error {
	if err := sdk.DecodeConfig(c, &p.cfg); err != nil {
		return err
	}
	var errs sdk.ConfigErrors
	u, err := url.Parse(p.cfg.URL)
	switch {
	case p.cfg.URL == "":
		errs = append(errs, sdk.ConfigError{Attribute: "url", Message: "required, e.g. \"http://127.0.0.1:8088/health\""})
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, sdk.ConfigError{Attribute: "url", Message: fmt.Sprintf("%q is not an http or https URL", p.cfg.URL)})
	}
	if p.cfg.Method == "" {
		p.cfg.Method = http.MethodGet
	}
	p.cfg.Method = strings.ToUpper(p.cfg.Method)
	if len(p.cfg.Status) == 0 {
		p.cfg.Status = []int{200}
	}
	for _, s := range p.cfg.Status {
		if s < 100 || s > 599 {
			errs = append(errs, sdk.ConfigError{Attribute: "status", Message: fmt.Sprintf("%d is not an HTTP status", s)})
		}
	}
	if p.cfg.BodyRegex != "" {
		if p.body, err = regexp.Compile(p.cfg.BodyRegex); err != nil {
			errs = append(errs, sdk.ConfigError{Attribute: "body_regex", Message: err.Error()})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: p.cfg.InsecureSkipVerify}
	tr.DisableKeepAlives = true // each probe tests a fresh connection, as a client would
	p.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return nil
}

// Check sends one request; the agent's timeout is on ctx.
func (p *Probe) Check(ctx context.Context) (sdk.Result, error) {
	req, err := http.NewRequestWithContext(ctx, p.cfg.Method, p.cfg.URL, nil)
	if err != nil {
		return sdk.Result{}, err
	}
	if p.cfg.Host != "" {
		req.Host = p.cfg.Host
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return sdk.Result{Healthy: false, Message: err.Error()}, nil
	}
	defer resp.Body.Close()
	if !slices.Contains(p.cfg.Status, resp.StatusCode) {
		return sdk.Result{Healthy: false, Message: fmt.Sprintf("%s %s: status %d, want %v", p.cfg.Method, p.cfg.URL, resp.StatusCode, p.cfg.Status)}, nil
	}
	if p.body != nil {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return sdk.Result{Healthy: false, Message: "reading body: " + err.Error()}, nil
		}
		if !p.body.Match(b) {
			return sdk.Result{Healthy: false, Message: fmt.Sprintf("%s %s: body does not match %q", p.cfg.Method, p.cfg.URL, p.cfg.BodyRegex)}, nil
		}
	}
	return sdk.Result{Healthy: true, Message: fmt.Sprintf("%s %s: %d", p.cfg.Method, p.cfg.URL, resp.StatusCode)}, nil
}
