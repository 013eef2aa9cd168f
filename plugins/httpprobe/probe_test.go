package httpprobe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/sdk"
)

func configured(t *testing.T, cfg map[string]any) *Probe {
	t.Helper()
	p := New().(*Probe)
	if err := p.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Host != "www.example.org" && r.URL.Path == "/vhost":
			http.NotFound(w, r)
		case r.URL.Path == "/down":
			w.WriteHeader(http.StatusBadGateway)
		default:
			fmt.Fprintf(w, "served by n1 via %s", r.Method)
		}
	}))
	defer srv.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer tls.Close()
	cases := []struct {
		name string
		cfg  map[string]any
		ok   bool
		msg  string
	}{
		{"200 is healthy", map[string]any{"url": srv.URL + "/"}, true, ": 200"},
		{"502 is not", map[string]any{"url": srv.URL + "/down"}, false, "status 502"},
		{"502 expected", map[string]any{"url": srv.URL + "/down", "status": []any{502.0}}, true, ""},
		{"body matches", map[string]any{"url": srv.URL + "/", "body_regex": "served by n[0-9]"}, true, ""},
		{"body does not match", map[string]any{"url": srv.URL + "/", "body_regex": "^maintenance"}, false, "does not match"},
		{"method", map[string]any{"url": srv.URL + "/", "method": "head"}, true, "HEAD"},
		{"name-based virtual host", map[string]any{"url": srv.URL + "/vhost", "host": "www.example.org"}, true, ""},
		{"wrong virtual host", map[string]any{"url": srv.URL + "/vhost"}, false, "status 404"},
		{"TLS verified by default", map[string]any{"url": tls.URL}, false, "certificate"},
		{"TLS verification off on request", map[string]any{"url": tls.URL, "insecure_skip_verify": true}, true, ""},
		{"connection refused", map[string]any{"url": "http://127.0.0.1:1/"}, false, "refused"},
	}
	for _, c := range cases {
		r, err := configured(t, c.cfg).Check(context.Background())
		if err != nil || r.Healthy != c.ok || !strings.Contains(r.Message, c.msg) {
			t.Errorf("%s: %+v %v", c.name, r, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  map[string]any
		attr string
	}{
		{map[string]any{}, "url"},
		{map[string]any{"url": "ftp://example.org/"}, "url"},
		{map[string]any{"url": "http://127.0.0.1/", "status": []any{700.0}}, "status"},
		{map[string]any{"url": "http://127.0.0.1/", "body_regex": "("}, "body_regex"},
		{map[string]any{"url": "http://127.0.0.1/", "expect": 200.0}, "expect"},
	}
	for _, c := range cases {
		err := New().Configure(context.Background(), c.cfg)
		var ces sdk.ConfigErrors
		if !errors.As(err, &ces) || ces[0].Attribute != c.attr {
			t.Errorf("%v: got %v, want an error about %s", c.cfg, err, c.attr)
		}
	}
}
