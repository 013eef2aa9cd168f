package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/transport"
	"github.com/vigil-ha/vigil/test/lab"
)

// The failover benchmark is a report, not a timed test: it measures and
// prints, and fails only when the lab itself misbehaves. Run it with
//
//	make bench-failover        (VIGIL_BENCH=1 go test ./test/e2e -run Benchmark -v)
//
// Each row: 5 runs, min / median / max, Vigil and keepalived on the same
// lab in the same run, the seed's site (3 nodes, VI_1 owned by n1 at 100,
// n3 the backup at 80).

func benchEnabled(t *testing.T) {
	if os.Getenv("VIGIL_BENCH") == "" {
		t.Skip("benchmark report: run with VIGIL_BENCH=1 (make bench-failover)")
	}
}

type stat struct{ min, med, max time.Duration }

func stats(ds []time.Duration) stat {
	s := slices.Clone(ds)
	slices.Sort(s)
	return stat{s[0], s[len(s)/2], s[len(s)-1]}
}

func (s stat) String() string {
	return fmt.Sprintf("%s / %s / %s", ms(s.min), ms(s.med), ms(s.max))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// impl starts one implementation on a lab node.
type impl struct {
	name  string
	start func(t *testing.T, l *lab.Lab, i int, s site, pol string) *lab.Proc
}

var impls = []impl{
	{"keepalived", func(t *testing.T, l *lab.Lab, i int, s site, _ string) *lab.Proc {
		return l.Nodes[i].StartKeepalived(s.keepalivedConf(l, i, 3, s.auth))
	}},
	{"vigil", func(t *testing.T, l *lab.Lab, i int, s site, pol string) *lab.Proc {
		return startVigil(t, l, l.Nodes[i], pol).Proc
	}},
}

// probeUntil starts a connection from the client to addr every millisecond,
// each with 20ms to be answered, until node answers one, and reports when.
// The tries overlap: a try sent to the old master just before the
// gratuitous ARP is lost, and waiting out its timeout before the next try
// would add up to that timeout to the measured failover.
func probeUntil(l *lab.Lab, s site, node string, stop <-chan struct{}) <-chan time.Time {
	out := make(chan time.Time, 1)
	var once sync.Once
	answered := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				once.Do(func() { out <- time.Time{} })
				return
			case <-answered:
				return
			case <-tick.C:
			}
			go func() {
				if who, err := l.Client.Probe(s.vipOf(0), probePort, 20*time.Millisecond); err == nil && who == node {
					at := time.Now()
					once.Do(func() { out <- at; close(answered) })
				}
			}()
		}
	}()
	return out
}

func TestBenchmarkFailover(t *testing.T) {
	benchEnabled(t)
	const runs = 5
	versions := []site{{version: 2, interval: "1s", auth: "1322"}, {version: 3, interval: "100ms"}}
	var report strings.Builder
	report.WriteString("| failover | implementation | event to priority-0 advert at backup, ms | event to VIP on backup, ms (min / median / max) | event to client's first reply, ms | RFC bound, ms |\n|---|---|---|---|---|---|\n")
	for _, s := range versions {
		for _, kind := range []string{"graceful (SIGTERM)", "crash (link cut)"} {
			for _, im := range impls {
				l := lab.New(t, 3)
				pol := s.policy(t, l, 3, 3)
				procs := make([]*lab.Proc, 3)
				for i, n := range l.Nodes {
					n.ServeName(probePort)
					procs[i] = im.start(t, l, i, s, pol)
				}
				for i, n := range l.Nodes {
					waitOwner(t, l, s.vipOf(i), n.Name, 15*time.Second)
				}
				var vipT, replyT, resignT []time.Duration
				for r := 0; r < runs; r++ {
					wait := l.Nodes[2].WatchAddr(s.vipOf(0))
					stop := make(chan struct{})
					reply := probeUntil(l, s, "n3", stop)
					var resign <-chan time.Time
					if strings.HasPrefix(kind, "graceful") {
						resign = awaitResign(t, l, s)
					}
					if strings.HasPrefix(kind, "crash") {
						// Cut right after an advert from n1 reaches n3, so
						// every run starts at the same phase of the interval.
						awaitAdvert(t, l, s, "n1")
					}
					start := time.Now()
					if strings.HasPrefix(kind, "graceful") {
						// Signal only: waiting for the exit here would delay
						// reading the clock (keepalived takes ~1s to exit).
						procs[0].Cmd.Process.Signal(syscall.SIGTERM)
					} else {
						l.Nodes[0].CutLink()
					}
					at := wait(10 * time.Second)
					var rt time.Time
					select {
					case rt = <-reply:
					case <-time.After(10 * time.Second):
					}
					close(stop)
					if at.IsZero() || rt.IsZero() {
						t.Fatalf("%s %s v%d run %d: VIP at %v, reply at %v", im.name, kind, s.version, r, at, rt)
					}
					vipT, replyT = append(vipT, at.Sub(start)), append(replyT, rt.Sub(start))
					if resign != nil {
						select {
						case r := <-resign:
							resignT = append(resignT, r.Sub(start))
						case <-time.After(time.Second):
							t.Fatalf("%s: no priority-0 advert seen at n3", im.name)
						}
					}
					if strings.HasPrefix(kind, "graceful") {
						if err := procs[0].Stop(syscall.SIGTERM, 5*time.Second); err != nil {
							t.Fatalf("%s on n1 did not exit after SIGTERM: %v", im.name, err)
						}
						procs[0] = im.start(t, l, 0, s, pol)
					} else {
						l.Nodes[0].RestoreLink()
					}
					waitOwner(t, l, s.vipOf(0), "n1", 15*time.Second)
					// Let the backups settle on the returned master's adverts.
					time.Sleep(4 * time.Duration(s.versionInterval()))
				}
				bound := skew(s, 80)
				if strings.HasPrefix(kind, "crash") {
					bound += 3 * s.versionInterval()
				}
				resignCol := "-"
				if len(resignT) > 0 {
					resignCol = stats(resignT).String()
				}
				fmt.Fprintf(&report, "| v%d %s, %s | %s | %s | %s | %s | %s |\n", s.version, s.interval, kind, im.name,
					resignCol, stats(vipT), stats(replyT), ms(bound))
			}
		}
	}
	t.Log("\n" + report.String())
	if p := os.Getenv("VIGIL_BENCH_OUT"); p != "" {
		os.WriteFile(p, []byte(report.String()), 0o644)
	}
}

func (s site) versionInterval() time.Duration {
	d, _ := time.ParseDuration(s.interval)
	return d
}

// skew is RFC 5798 §6.1 Skew_Time; VRRPv2 uses whole seconds as keepalived does.
func skew(s site, prio int) time.Duration {
	if s.version == 2 {
		return time.Duration(256-prio) * time.Second / 256
	}
	return time.Duration(256-prio) * s.versionInterval() / 256
}

// awaitAdvert returns when the backup n3 receives a VI_1 advert from node.
func awaitAdvert(t *testing.T, l *lab.Lab, s site, node string) {
	t.Helper()
	var src netip.Addr
	for _, n := range l.Nodes {
		if n.Name == node {
			src = n.Addr4
		}
	}
	var c *transport.Conn
	l.Nodes[2].Do(func() {
		var err error
		if c, err = transport.Listen("eth0", s.v6, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
	})
	defer c.Close()
	buf := make([]byte, 1500)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if p.Src == src && len(p.Data) > 1 && p.Data[1] == 21 {
			return
		}
	}
	t.Fatalf("no advert from %s within 5s", node)
}

// awaitResign listens in n3's namespace and reports when n1's priority-0
// VI_1 advert arrives there.
func awaitResign(t *testing.T, l *lab.Lab, s site) <-chan time.Time {
	t.Helper()
	var c *transport.Conn
	l.Nodes[2].Do(func() {
		var err error
		if c, err = transport.Listen("eth0", s.v6, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
	})
	out := make(chan time.Time, 1)
	go func() {
		defer c.Close()
		buf := make([]byte, 1500)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			p, err := c.Read(buf)
			if err != nil {
				return
			}
			if p.Src == l.Nodes[0].Addr4 && len(p.Data) > 2 && p.Data[1] == 21 && p.Data[2] == 0 {
				out <- time.Now()
				return
			}
		}
	}()
	return out
}
