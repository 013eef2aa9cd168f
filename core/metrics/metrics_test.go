package metrics

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/core/bgp"
	"github.com/vigil-ha/vigil/core/engine"
)

// Scrape parses a scrape of src with Prometheus's own text parser.
func Scrape(t *testing.T, src Source) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(src).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, rec.Body.String())
	}
	return fams
}

// value finds the sample of family name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// TestKeepalivedExporterNames: every metric keepalived-exporter users
// scrape is there under its name and labels, with the engine's counts, and
// Vigil's own metrics beside them.
func TestKeepalivedExporterNames(t *testing.T) {
	src := Source{
		Instances: func() []engine.Status {
			return []engine.Status{{Name: "VI_1", State: "MASTER", Interface: "eth0", VRID: 51, VIPs: []string{"192.0.2.100/24", "192.0.2.101/24"},
				LastTakeover: 1500 * time.Microsecond,
				Counters: map[string]uint64{"adverts_sent": 40, "adverts_received": 7, "became_master": 2, "released_master": 1,
					"dropped_ttl": 3, "dropped_auth": 4, "dropped_auth_type": 5, "dropped_short": 1, "dropped_addr_count": 1,
					"priority_zero_sent": 1}}}
		},
		Checks: func() []api.Check {
			return []api.Check{{Name: "web", Plugin: "http-probe", Failing: true, LastDuration: 20 * time.Millisecond, Restarts: 2}}
		},
		Notifiers: func() []api.Notifier {
			return []api.Notifier{{Name: "mail", Plugin: "smtp-notify", Pending: 3, Oldest: time.Minute}}
		},
		Tracks: func(string) []string { return []string{"web"} },
		BGP: func() *bgp.Status {
			return &bgp.Status{Peers: map[string]bgp.PeerState{"tor1": {Addr: "192.0.2.1", State: "established"}, "tor2": {Addr: "192.0.2.2", State: "active"}},
				Drops: map[string]uint64{"tor2": 3}, Announced: []bgp.Route{{Prefix: netip.MustParsePrefix("203.0.113.10/32"), MED: 155, Instance: "VI_1"}},
				Announcements: 7, Withdrawals: 6, Restarts: 1, LastChange: time.Unix(1800000000, 0)}
		},
	}
	fams := Scrape(t, src)
	inst := map[string]string{"iname": "VI_1", "intf": "eth0", "vrid": "51", "state": "MASTER"}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"keepalived_up", nil, 1},
		{"keepalived_vrrp_state", map[string]string{"iname": "VI_1", "intf": "eth0", "vrid": "51", "ip_address": "192.0.2.101"}, 2},
		{"keepalived_advert_sent_total", inst, 40},
		{"keepalived_advert_rcvd_total", inst, 7},
		{"keepalived_become_master_total", inst, 2},
		{"keepalived_release_master_total", inst, 1},
		{"keepalived_packet_len_err_total", inst, 2},
		{"keepalived_advert_interval_err_total", inst, 0},
		{"keepalived_ip_ttl_err_total", inst, 3},
		{"keepalived_invalid_type_rcvd_total", inst, 0},
		{"keepalived_addr_list_err_total", inst, 0},
		{"keepalived_invalid_authtype_total", inst, 0},
		{"keepalived_authtype_mismatch_total", inst, 5},
		{"keepalived_auth_failure_total", inst, 4},
		{"keepalived_pri_zero_rcvd_total", inst, 0},
		{"keepalived_pri_zero_sent_total", inst, 1},
		{"keepalived_script_status", map[string]string{"name": "web"}, 0},
		{"keepalived_check_script_status", map[string]string{"iname": "VI_1", "ip_address": "192.0.2.100"}, 0},
		{"vigil_adverts_dropped_total", map[string]string{"iname": "VI_1", "reason": "ttl"}, 3},
		{"vigil_last_takeover_seconds", map[string]string{"iname": "VI_1"}, 0.0015},
		{"vigil_check_duration_seconds", map[string]string{"name": "web"}, 0.02},
		{"vigil_plugin_restarts_total", map[string]string{"kind": "check", "name": "web"}, 2},
		{"vigil_notify_queue_pending", map[string]string{"name": "mail"}, 3},
		{"vigil_notify_queue_oldest_seconds", map[string]string{"name": "mail"}, 60},
		{"vigil_bgp_peer_established", map[string]string{"peer": "tor1", "address": "192.0.2.1"}, 1},
		{"vigil_bgp_peer_established", map[string]string{"peer": "tor2"}, 0},
		{"vigil_bgp_session_drops_total", map[string]string{"peer": "tor2"}, 3},
		{"vigil_bgp_routes_announced", nil, 1},
		{"vigil_bgp_route_med", map[string]string{"prefix": "203.0.113.10/32", "iname": "VI_1"}, 155},
		{"vigil_bgp_announcements_total", nil, 7},
		{"vigil_bgp_withdrawals_total", nil, 6},
		{"vigil_bgp_speaker_restarts_total", nil, 1},
		{"vigil_bgp_last_change_timestamp_seconds", nil, 1800000000},
	} {
		got, ok := value(fams, tc.name, tc.labels)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
}

// TestListenerIsBounded: whatever the network sends, the listener holds
// at most MaxConns connections (connections that send nothing do not get
// more), and a flood of scrapes renders the metrics once per CacheFor:
// the agent's one scheduler thread, which also sends the adverts, does a
// bounded amount of work for it.
func TestListenerIsBounded(t *testing.T) {
	var renders atomic.Int64
	src := Source{
		Instances: func() []engine.Status { renders.Add(1); return nil },
		Checks:    func() []api.Check { return nil },
		Notifiers: func() []api.Notifier { return nil },
		Tracks:    func(string) []string { return nil },
	}
	srv, err := Listen("127.0.0.1:0", src, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	get := func(timeout time.Duration) error {
		c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + srv.Addr + "/metrics")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); get(5 * time.Second) }()
	}
	wg.Wait()
	if n := renders.Load(); n > 2 {
		t.Errorf("50 scrapes rendered the metrics %d times, want once per %v", n, CacheFor)
	}
	// Connections that hold a slot and send nothing.
	var idle []net.Conn
	for range MaxConns {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	time.Sleep(100 * time.Millisecond)
	if err := get(time.Second); err == nil {
		t.Errorf("a scrape was served while %d connections held every slot", MaxConns)
	}
	for _, c := range idle {
		c.Close()
	}
	if err := get(5 * time.Second); err != nil {
		t.Errorf("scrape once the slots are free: %v", err)
	}
}
