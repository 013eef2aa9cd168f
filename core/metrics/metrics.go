// Package metrics serves the agent's state as Prometheus metrics, under
// the names and labels mehdy/keepalived-exporter gives keepalived's, so
// that dashboards and alerts built for keepalived keep working, plus
// vigil_* metrics for what keepalived has no counter of. Everything is read
// at scrape time from the agent's own snapshots: nothing is counted twice.
package metrics

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/vigil-ha/vigil/core/api"
	"github.com/vigil-ha/vigil/core/bgp"
	"github.com/vigil-ha/vigil/core/engine"
)

// Source is what a scrape reads.
type Source struct {
	Instances func() []engine.Status
	Checks    func() []api.Check
	Notifiers func() []api.Notifier
	// Tracks says which checks an instance tracks (keepalived's
	// check_script_status is per VIP of the instances a script weighs on).
	Tracks func(instance string) []string
	// BGP is the BGP speaker's status; nil (or a nil result) when the
	// node runs none.
	BGP func() *bgp.Status
}

// keepalived's state numbers, which keepalived_vrrp_state reports.
var stateNumber = map[string]float64{"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3}

// counters maps keepalived-exporter's per-instance counters to the
// engine's; a list sums several.
var counters = []struct {
	name, help string
	from       []string
}{
	{"keepalived_advert_rcvd_total", "Adverts received.", []string{"adverts_received"}},
	{"keepalived_advert_sent_total", "Adverts sent.", []string{"adverts_sent"}},
	{"keepalived_become_master_total", "Transitions to MASTER.", []string{"became_master"}},
	{"keepalived_release_master_total", "Transitions out of MASTER.", []string{"released_master"}},
	{"keepalived_packet_len_err_total", "Adverts too short or with a length that does not match.", []string{"dropped_short", "dropped_addr_count"}},
	{"keepalived_advert_interval_err_total", "VRRPv2 adverts with another interval.", []string{"dropped_interval"}},
	{"keepalived_ip_ttl_err_total", "Adverts with a TTL / hop limit other than 255.", []string{"dropped_ttl"}},
	{"keepalived_invalid_type_rcvd_total", "Packets of another VRRP type.", []string{"dropped_type"}},
	{"keepalived_addr_list_err_total", "Adverts whose address list differs from ours.", []string{"dropped_addr_list", "dropped_addr_family"}},
	{"keepalived_invalid_authtype_total", "Adverts with an unknown authentication type (Vigil counts these with authtype_mismatch).", nil},
	{"keepalived_authtype_mismatch_total", "Adverts with authentication of another type.", []string{"dropped_auth_type"}},
	{"keepalived_auth_failure_total", "Adverts that failed authentication (a wrong password; with auth_hmac: missing, malformed, stale, unknown key, invalid HMAC, replayed).", []string{"dropped_auth", "dropped_auth_missing", "dropped_auth_malformed", "dropped_auth_stale", "dropped_auth_unknown_key", "dropped_auth_hmac", "dropped_auth_replay"}},
	{"keepalived_pri_zero_rcvd_total", "Adverts of priority 0 received.", []string{"priority_zero_received"}},
	{"keepalived_pri_zero_sent_total", "Adverts of priority 0 sent.", []string{"priority_zero_sent"}},
	{"vigil_vips_restored_total", "VIPs put back after someone else removed them while this node was master.", []string{"vips_restored"}},
	{"vigil_routes_restored_total", "Routes and rules (virtual_routes, virtual_rules) put back after someone else removed them while this node was master.", []string{"routes_restored"}},
}

var instanceLabels = []string{"iname", "intf", "vrid", "state"}

type collector struct {
	src      Source
	up       *prometheus.Desc
	state    *prometheus.Desc
	counters []*prometheus.Desc
	script   *prometheus.Desc
	ckScript *prometheus.Desc
	dropped  *prometheus.Desc
	takeover *prometheus.Desc
	ckTime   *prometheus.Desc
	restarts *prometheus.Desc
	pending  *prometheus.Desc
	oldest   *prometheus.Desc
	bgp      bgpDescs
}

// bgpDescs are the BGP speaker's metrics (vigil_bgp_*).
type bgpDescs struct {
	established, drops, routes, med, announced, withdrawn, restarts, lastChange *prometheus.Desc
}

func newBGPDescs() bgpDescs {
	return bgpDescs{
		established: prometheus.NewDesc("vigil_bgp_peer_established", "1 while the BGP session with the peer is established.", []string{"peer", "address"}, nil),
		drops:       prometheus.NewDesc("vigil_bgp_session_drops_total", "Established BGP sessions that went down (NOTIFICATION, hold timer, BFD, malformed message).", []string{"peer"}, nil),
		routes:      prometheus.NewDesc("vigil_bgp_routes_announced", "Routes this node announces now.", nil, nil),
		med:         prometheus.NewDesc("vigil_bgp_route_med", "MED of each route announced now (lower is preferred).", []string{"prefix", "iname"}, nil),
		announced:   prometheus.NewDesc("vigil_bgp_announcements_total", "Routes announced (again after a change).", nil, nil),
		withdrawn:   prometheus.NewDesc("vigil_bgp_withdrawals_total", "Routes withdrawn.", nil, nil),
		restarts:    prometheus.NewDesc("vigil_bgp_speaker_restarts_total", "Restarts of the BGP speaker process after it died.", nil, nil),
		lastChange:  prometheus.NewDesc("vigil_bgp_last_change_timestamp_seconds", "When a route was last announced or withdrawn.", nil, nil),
	}
}

func (d bgpDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{d.established, d.drops, d.routes, d.med, d.announced, d.withdrawn, d.restarts, d.lastChange}
}

func (d bgpDescs) collect(st *bgp.Status, ch chan<- prometheus.Metric) {
	if st == nil {
		return
	}
	for name, p := range st.Peers {
		up := 0.0
		if p.State == "established" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(d.established, prometheus.GaugeValue, up, name, p.Addr)
		ch <- prometheus.MustNewConstMetric(d.drops, prometheus.CounterValue, float64(st.Drops[name]), name)
	}
	ch <- prometheus.MustNewConstMetric(d.routes, prometheus.GaugeValue, float64(len(st.Announced)))
	for _, r := range st.Announced {
		ch <- prometheus.MustNewConstMetric(d.med, prometheus.GaugeValue, float64(r.MED), r.Prefix.String(), r.Instance)
	}
	ch <- prometheus.MustNewConstMetric(d.announced, prometheus.CounterValue, float64(st.Announcements))
	ch <- prometheus.MustNewConstMetric(d.withdrawn, prometheus.CounterValue, float64(st.Withdrawals))
	ch <- prometheus.MustNewConstMetric(d.restarts, prometheus.CounterValue, float64(st.Restarts))
	if !st.LastChange.IsZero() {
		ch <- prometheus.MustNewConstMetric(d.lastChange, prometheus.GaugeValue, float64(st.LastChange.UnixNano())/1e9)
	}
}

func newCollector(src Source) *collector {
	c := &collector{src: src,
		up:       prometheus.NewDesc("keepalived_up", "Whether the daemon answers (always 1 from Vigil's own agent).", nil, nil),
		state:    prometheus.NewDesc("keepalived_vrrp_state", "State of the instance, per VIP: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.", []string{"iname", "intf", "vrid", "ip_address"}, nil),
		script:   prometheus.NewDesc("keepalived_script_status", "Health check status: 1 passing, 0 failing.", []string{"name"}, nil),
		ckScript: prometheus.NewDesc("keepalived_check_script_status", "1 when every check the instance tracks passes, per VIP.", []string{"iname", "intf", "vrid", "ip_address"}, nil),
		dropped:  prometheus.NewDesc("vigil_adverts_dropped_total", "Adverts dropped, by reason.", []string{"iname", "reason"}, nil),
		takeover: prometheus.NewDesc("vigil_last_takeover_seconds", "How long the last takeover took, from its event to addresses on and first advert out.", []string{"iname"}, nil),
		ckTime:   prometheus.NewDesc("vigil_check_duration_seconds", "How long the check's last polled run took.", []string{"name", "plugin"}, nil),
		restarts: prometheus.NewDesc("vigil_plugin_restarts_total", "Restarts of a block's plugin process.", []string{"kind", "name", "plugin"}, nil),
		pending:  prometheus.NewDesc("vigil_notify_queue_pending", "Notifications waiting for delivery.", []string{"name", "plugin"}, nil),
		oldest:   prometheus.NewDesc("vigil_notify_queue_oldest_seconds", "How long the oldest waiting notification has waited.", []string{"name", "plugin"}, nil),
		bgp:      newBGPDescs(),
	}
	for _, m := range counters {
		c.counters = append(c.counters, prometheus.NewDesc(m.name, m.help, instanceLabels, nil))
	}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range slices.Concat([]*prometheus.Desc{c.up, c.state, c.script, c.ckScript, c.dropped, c.takeover, c.ckTime, c.restarts, c.pending, c.oldest}, c.counters, c.bgp.all()) {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	failing := map[string]bool{}
	if c.src.Checks != nil {
		for _, ck := range c.src.Checks() {
			failing[ck.Name] = ck.Failing
			ok := 1.0
			if ck.Failing {
				ok = 0
			}
			ch <- prometheus.MustNewConstMetric(c.script, prometheus.GaugeValue, ok, ck.Name)
			ch <- prometheus.MustNewConstMetric(c.ckTime, prometheus.GaugeValue, ck.LastDuration.Seconds(), ck.Name, ck.Plugin)
			ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(ck.Restarts), "check", ck.Name, ck.Plugin)
		}
	}
	if c.src.Notifiers != nil {
		for _, n := range c.src.Notifiers() {
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n.Pending), n.Name, n.Plugin)
			ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, n.Oldest.Seconds(), n.Name, n.Plugin)
			ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(n.Restarts), "notifier", n.Name, n.Plugin)
		}
	}
	if c.src.BGP != nil {
		c.bgp.collect(c.src.BGP(), ch)
	}
	for _, in := range c.src.Instances() {
		vrid := strconv.Itoa(int(in.VRID))
		labels := []string{in.Name, in.Interface, vrid, in.State}
		for i, m := range counters {
			var v uint64
			for _, k := range m.from {
				v += in.Counters[k]
			}
			ch <- prometheus.MustNewConstMetric(c.counters[i], prometheus.CounterValue, float64(v), labels...)
		}
		healthy := 1.0
		if c.src.Tracks != nil {
			for _, name := range c.src.Tracks(in.Name) {
				if failing[name] {
					healthy = 0
				}
			}
		}
		for _, vip := range in.VIPs {
			addr, _, _ := strings.Cut(vip, "/")
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, stateNumber[in.State], in.Name, in.Interface, vrid, addr)
			ch <- prometheus.MustNewConstMetric(c.ckScript, prometheus.GaugeValue, healthy, in.Name, in.Interface, vrid, addr)
		}
		for k, v := range in.Counters {
			if reason, ok := strings.CutPrefix(k, "dropped_"); ok {
				ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(v), in.Name, reason)
			}
		}
		if in.LastTakeover > 0 {
			ch <- prometheus.MustNewConstMetric(c.takeover, prometheus.GaugeValue, in.LastTakeover.Seconds(), in.Name)
		}
	}
}

// Handler serves src's metrics in the Prometheus text format.
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(src))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A scrape is bounded: one at a time, and it cannot stall.
		MaxRequestsInFlight: 2,
		Timeout:             5 * time.Second,
	})
}

// MaxConns bounds the connections the listener holds; more wait in the
// kernel's backlog. With the scrape cache, whatever the network sends costs
// the agent (one scheduler thread, shared with the adverts) at most one
// render a second and MaxConns connections' worth of parsing.
const MaxConns = 4

// CacheFor is how long a rendered scrape is served again as it is.
var CacheFor = time.Second

// cached serves h's answer to GET again for ttl, rendering it at most once
// per ttl whatever the number of scrapes.
func cached(h http.Handler, ttl time.Duration) http.Handler {
	var mu sync.Mutex
	var at time.Time
	var rec *recorder
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if rec == nil || time.Since(at) >= ttl {
			plain := r.Clone(r.Context())
			plain.Header.Del("Accept-Encoding") // one rendering serves every client
			next := &recorder{header: http.Header{}, status: http.StatusOK}
			h.ServeHTTP(next, plain)
			if next.status == http.StatusOK {
				rec, at = next, time.Now()
			} else {
				mu.Unlock()
				next.replay(w)
				return
			}
		}
		cur := rec
		mu.Unlock()
		cur.replay(w)
	})
}

// recorder keeps one response for replay.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.status = code }

func (r *recorder) replay(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.status)
	w.Write(r.body.Bytes())
}

// Server is a running metrics listener.
type Server struct {
	srv  *http.Server
	Addr string
}

// Listen serves /metrics on addr until Close.
func Listen(addr string, src Source, log hclog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", cached(Handler(src), CacheFor))
	s := &Server{Addr: ln.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 3 * time.Second,
		ReadTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 5 * time.Second, MaxHeaderBytes: 8 << 10}}
	go func() {
		if err := s.srv.Serve(netutil.LimitListener(ln, MaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "address", s.Addr, "error", err)
		}
	}()
	return s, nil
}

// Close stops the listener.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}
