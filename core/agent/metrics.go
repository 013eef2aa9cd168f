package agent

import (
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/engine"
	"github.com/vigil-ha/vigil/core/metrics"
)

// metricsServer runs the policy's metrics listener, if it names one, and
// moves it when a reload changes the address.
type metricsServer struct {
	log hclog.Logger
	src metrics.Source

	mu   sync.Mutex
	cfg  *config.Config
	addr string
	srv  *metrics.Server
}

func newMetricsServer(log hclog.Logger, eng *engine.Engine, cs *checks, ns *notifiers, bgp *bgpEffect) *metricsServer {
	m := &metricsServer{log: log}
	m.src = metrics.Source{
		Instances: eng.Status,
		Checks:    cs.snapshot,
		Notifiers: ns.snapshot,
		Tracks:    m.tracks,
		BGP:       bgp.status,
	}
	return m
}

// tracks lists the checks instance tracks in the running policy.
func (m *metricsServer) tracks(instance string) []string {
	m.mu.Lock()
	cfg := m.cfg
	m.mu.Unlock()
	var out []string
	for _, in := range cfg.Instances {
		if in.Name == instance {
			for _, t := range in.Track {
				out = append(out, t.Check)
			}
		}
	}
	return out
}

// apply follows the policy: start, move or stop the listener. A listener
// that cannot start is an error at start-up and a logged one on reload.
func (m *metricsServer) apply(cfg *config.Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg = cfg
	if cfg.MetricsListen == m.addr {
		return nil
	}
	if m.srv != nil {
		m.srv.Close()
		m.srv, m.addr = nil, ""
	}
	if cfg.MetricsListen == "" {
		return nil
	}
	srv, err := metrics.Listen(cfg.MetricsListen, m.src, m.log)
	if err != nil {
		return err
	}
	m.srv, m.addr = srv, cfg.MetricsListen
	m.log.Info("serving metrics", "address", "http://"+srv.Addr+"/metrics")
	return nil
}

func (m *metricsServer) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv != nil {
		m.srv.Close()
	}
}
