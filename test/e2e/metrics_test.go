package e2e

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-ha/vigil/test/lab"
)

// TestMetricsScrape: an agent whose policy sets metrics_listen serves
// keepalived-exporter's metrics on localhost of its node; a scrape parses
// with Prometheus's text parser and says what the nodes do: n1 MASTER and
// sending, n2 BACKUP and receiving.
func TestMetricsScrape(t *testing.T) {
	l := lab.New(t, 2)
	s := site{version: 3, interval: "100ms"}
	pol := s.pluginPolicy(t, l, 2, 1, `  metrics_listen = "9650"`, nil, "")
	startVigil(t, l, l.Nodes[0], pol)
	startVigil(t, l, l.Nodes[1], pol)
	waitOwner(t, l, s.vipOf(0), "n1", 5*time.Second)
	time.Sleep(500 * time.Millisecond) // a few adverts
	localhost := netip.MustParseAddr("127.0.0.1")
	scrape := func(n *lab.Node) string {
		body, err := n.HTTPGetPath(localhost, 9650, "localhost", "/metrics", 2*time.Second)
		if err != nil {
			t.Fatalf("scrape %s: %v", n.Name, err)
		}
		return body + "\n"
	}
	for _, tc := range []struct {
		node          *lab.Node
		state         float64
		sent, rcvd    bool
		becameMasters float64
	}{{l.Nodes[0], 2, true, false, 1}, {l.Nodes[1], 1, false, true, 0}} {
		text := scrape(tc.node)
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.node.Name, err, text)
		}
		get := func(name string) float64 {
			f := fams[name]
			if f == nil || len(f.GetMetric()) == 0 {
				t.Errorf("%s: no %s", tc.node.Name, name)
				return -1
			}
			m := f.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
		if v := get("keepalived_vrrp_state"); v != tc.state {
			t.Errorf("%s: keepalived_vrrp_state %v, want %v", tc.node.Name, v, tc.state)
		}
		if v := get("keepalived_advert_sent_total"); (v > 0) != tc.sent {
			t.Errorf("%s: keepalived_advert_sent_total %v", tc.node.Name, v)
		}
		if v := get("keepalived_advert_rcvd_total"); (v > 0) != tc.rcvd {
			t.Errorf("%s: keepalived_advert_rcvd_total %v", tc.node.Name, v)
		}
		if v := get("keepalived_become_master_total"); v != tc.becameMasters {
			t.Errorf("%s: keepalived_become_master_total %v", tc.node.Name, v)
		}
		if get("keepalived_up") != 1 {
			t.Errorf("%s: keepalived_up is not 1", tc.node.Name)
		}
	}
	// Not on the node's own address: localhost only.
	if _, err := l.Nodes[0].HTTPGetPath(l.Nodes[0].Addr4, 9650, "n1", "/metrics", time.Second); err == nil {
		t.Error("metrics answered on the node's address; a bare port means localhost")
	}
}
