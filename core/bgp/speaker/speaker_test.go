package speaker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	vbgp "github.com/vigil-ha/vigil/core/bgp"
	"github.com/vigil-ha/vigil/core/bgp/speaker"
)

// router is a GoBGP on loopback standing in for the node's router: it
// listens on a free port, peers with 127.0.0.1 and records the best paths
// it has (prefix -> "med=N communities=...").
type router struct {
	addr string
	asn  uint32
	s    *server.BgpServer
	port uint16
	mu   sync.Mutex
	rib  map[string]string
}

func newRouter(t *testing.T, listen string, asn uint32) *router {
	ln, err := net.Listen("tcp", listen+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	lvl := &slog.LevelVar{}
	lvl.Set(slog.LevelError)
	r := &router{addr: listen, asn: asn, s: server.NewBgpServer(server.LoggerOption(slog.New(slog.NewTextHandler(io.Discard, nil)), lvl)), port: uint16(port), rib: map[string]string{}}
	go r.s.Serve()
	t.Cleanup(r.s.Stop)
	ctx := context.Background()
	if err := r.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: asn, RouterId: listen, ListenPort: int32(port), ListenAddresses: []string{listen}}}); err != nil {
		t.Fatal(err)
	}
	if err := r.s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{Conf: &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 65001},
		Transport: &api.Transport{PassiveMode: true}}}); err != nil {
		t.Fatal(err)
	}
	err = r.s.WatchEvent(ctx, server.WatchEventMessageCallbacks{OnBestPath: func(paths []*apiutil.Path, _ time.Time) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range paths {
			if p.Withdrawal {
				delete(r.rib, p.Nlri.String())
				continue
			}
			var med uint32
			var comms []string
			for _, a := range p.Attrs {
				switch v := a.(type) {
				case *bgp.PathAttributeMultiExitDisc:
					med = v.Value
				case *bgp.PathAttributeCommunities:
					for _, c := range v.Value {
						comms = append(comms, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
					}
				}
			}
			r.rib[p.Nlri.String()] = fmt.Sprintf("med=%d communities=%s", med, strings.Join(comms, ","))
		}
	}}, server.WatchBestPath(true))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *router) snapshot() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for k, v := range r.rib {
		out[k] = v
	}
	return out
}

// waitRIB waits (at most 15 s) for the router's best paths to be want.
func (r *router) waitRIB(t *testing.T, what string, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := r.snapshot()
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: router has %v, want %v", what, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// agent drives a speaker as the agent does: desired states on its input,
// reports read from its output.
type agent struct {
	in      *io.PipeWriter
	enc     *json.Encoder
	done    chan error
	mu      sync.Mutex
	reports []vbgp.Report
}

func startSpeaker(t *testing.T) *agent {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	a := &agent{in: inW, enc: json.NewEncoder(inW), done: make(chan error, 1)}
	go func() {
		a.done <- speaker.Run(context.Background(), inR, outW, hclog.NewNullLogger())
		outW.Close()
	}()
	go func() {
		dec := json.NewDecoder(outR)
		for {
			var r vbgp.Report
			if dec.Decode(&r) != nil {
				return
			}
			a.mu.Lock()
			a.reports = append(a.reports, r)
			a.mu.Unlock()
		}
	}()
	t.Cleanup(func() { inW.Close() })
	return a
}

func (a *agent) set(t *testing.T, d vbgp.Desired) {
	t.Helper()
	if err := a.enc.Encode(d); err != nil {
		t.Fatal(err)
	}
}

func (a *agent) established() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.reports) - 1; i >= 0; i-- {
		if p := a.reports[i].Peer; p != nil {
			return p.State == "established"
		}
	}
	return false
}

func route(p string, med uint32) vbgp.Route {
	return vbgp.Route{Prefix: netip.MustParsePrefix(p), MED: med, Instance: "VI_1"}
}

// TestSpeaker: the speaker announces exactly the desired set (a changed
// preference replaces the route, a route left out is withdrawn), reports
// the session, announces the whole set again after the session comes
// back, and at its stop sends the GRACEFUL_SHUTDOWN community before
// withdrawing.
func TestSpeaker(t *testing.T) {
	r := newRouter(t, "127.0.0.1", 65000)
	a := startSpeaker(t)
	sp := vbgp.Speaker{ASN: 65001, RouterID: netip.MustParseAddr("192.0.2.11"), GracefulShutdown: 300 * time.Millisecond,
		Peers: []vbgp.Peer{{Name: "r1", Addr: netip.MustParseAddr("127.0.0.1"), ASN: 65000, Port: r.port, HoldTime: 9 * time.Second, Keepalive: 3 * time.Second, ConnectRetry: time.Second}}}
	a.set(t, vbgp.Desired{Speaker: sp, Routes: []vbgp.Route{route("203.0.113.10/32", 155), route("203.0.113.11/32", 0)}})
	r.waitRIB(t, "both routes", map[string]string{"203.0.113.10/32": "med=155 communities=", "203.0.113.11/32": "med=0 communities="})
	if !a.established() {
		t.Errorf("no established report: %+v", a.reports)
	}
	a.set(t, vbgp.Desired{Speaker: sp, Routes: []vbgp.Route{route("203.0.113.10/32", 165)}})
	r.waitRIB(t, "one route, new MED", map[string]string{"203.0.113.10/32": "med=165 communities="})

	// The session drops (the router's neighbor is deconfigured and
	// configured again): the route comes back when it does.
	ctx := context.Background()
	if err := r.s.DeletePeer(ctx, &api.DeletePeerRequest{Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	r.waitRIB(t, "the route gone with the session", map[string]string{})
	if err := r.s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{Conf: &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 65001},
		Transport: &api.Transport{PassiveMode: true}}}); err != nil {
		t.Fatal(err)
	}
	r.waitRIB(t, "the route after the session came back", map[string]string{"203.0.113.10/32": "med=165 communities="})

	// The agent stops: GRACEFUL_SHUTDOWN first, then nothing.
	a.in.Close()
	r.waitRIB(t, "graceful shutdown", map[string]string{"203.0.113.10/32": "med=165 communities=65535:0"})
	r.waitRIB(t, "withdrawn", map[string]string{})
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("speaker ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("speaker did not end after its input closed")
	}
	a.mu.Lock()
	var changes []string
	for _, rep := range a.reports {
		if c := rep.Route; c != nil {
			changes = append(changes, fmt.Sprintf("%v %v", c.Route.Prefix, c.Announced))
		}
	}
	a.mu.Unlock()
	if !slices.Contains(changes, "203.0.113.11/32 false") {
		t.Errorf("no withdrawal reported: %v", changes)
	}
}

// TestSpeakerTakesNothing: what a router sends (its own routes, the node's
// VIP announced back) is neither taken nor passed on to another router:
// the other router sees the node's own route alone, with the node's AS.
func TestSpeakerTakesNothing(t *testing.T) {
	// Two ASes: rb would take ra's routes if the node passed them on.
	ra, rb := newRouter(t, "127.0.0.1", 65000), newRouter(t, "127.0.0.2", 65002)
	for _, p := range []string{"198.51.100.0/24", "203.0.113.10/32"} {
		nlri, _ := bgp.NewIPAddrPrefix(netip.MustParsePrefix(p))
		nh, _ := bgp.NewPathAttributeNextHop(netip.MustParseAddr("127.0.0.1"))
		if _, err := ra.s.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{{Family: bgp.RF_IPv4_UC, Nlri: nlri,
			Attrs: []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0), nh}}}}); err != nil {
			t.Fatal(err)
		}
	}
	a := startSpeaker(t)
	peer := func(name string, r *router) vbgp.Peer {
		return vbgp.Peer{Name: name, Addr: netip.MustParseAddr(r.addr), ASN: r.asn, Port: r.port, HoldTime: 9 * time.Second, Keepalive: 3 * time.Second, ConnectRetry: time.Second}
	}
	sp := vbgp.Speaker{ASN: 65001, RouterID: netip.MustParseAddr("192.0.2.11"), Peers: []vbgp.Peer{peer("ra", ra), peer("rb", rb)}}
	a.set(t, vbgp.Desired{Speaker: sp, Routes: []vbgp.Route{route("203.0.113.10/32", 0)}})
	rb.waitRIB(t, "the node's route alone", map[string]string{"203.0.113.10/32": "med=0 communities="})
	// Both sessions up and a while for anything to leak.
	deadline := time.Now().Add(10 * time.Second)
	for a.establishedCount() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if got := rb.snapshot(); len(got) != 1 {
		t.Errorf("rb has %v: ra's routes leaked through the node", got)
	}
}

// establishedCount is how many peers were last reported established.
func (a *agent) establishedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	last := map[string]string{}
	for _, r := range a.reports {
		if r.Peer != nil {
			last[r.Peer.Name] = r.Peer.State
		}
	}
	n := 0
	for _, s := range last {
		if s == "established" {
			n++
		}
	}
	return n
}

// hostilePeer accepts the speaker's connections on loopback, answers its
// OPEN with open (this AS), then sends after: what a broken or hostile
// router would. It returns its port and, per connection, what it read
// back last (the speaker's NOTIFICATION).
func hostilePeer(t *testing.T, asn uint16, after []byte) (uint16, <-chan []byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 4096)
				if _, err := c.Read(buf); err != nil { // the speaker's OPEN
					return
				}
				open, _ := bgp.NewBGPOpenMessage(asn, 9, netip.MustParseAddr("192.0.2.66"),
					[]bgp.OptionParameterInterface{bgp.NewOptionParameterCapability([]bgp.ParameterCapabilityInterface{bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC)})})
				b, _ := open.Serialize()
				ka, _ := bgp.NewBGPKeepAliveMessage().Serialize()
				c.Write(append(b, ka...))
				c.Write(after)
				var last []byte
				for {
					n, err := c.Read(buf)
					if err != nil {
						break
					}
					last = append([]byte(nil), buf[:n]...)
				}
				got <- last
			}()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port), got
}

// TestSpeakerHostilePeer: a router with the wrong AS, or one that sends a
// malformed UPDATE, gets a NOTIFICATION and its session goes down; the
// speaker keeps running and keeps serving its other peers; the drop is
// reported with its reason.
func TestSpeakerHostilePeer(t *testing.T) {
	// An UPDATE whose path attributes claim more bytes than it has.
	malformed := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0, 27, 2, 0, 0, 0, 200, 0x40, 1, 1, 0, 0}
	wrongAS, gotWrong := hostilePeer(t, 65099, nil)
	broken, gotBroken := hostilePeer(t, 65000, malformed)
	good := newRouter(t, "127.0.0.2", 65000)
	a := startSpeaker(t)
	peer := func(name, addr string, port uint16) vbgp.Peer {
		return vbgp.Peer{Name: name, Addr: netip.MustParseAddr(addr), ASN: 65000, Port: port, HoldTime: 9 * time.Second, Keepalive: 3 * time.Second, ConnectRetry: time.Second}
	}
	// Three peers need three addresses; the hostile ones listen on
	// 127.0.0.1, so they take turns there.
	sp := vbgp.Speaker{ASN: 65001, RouterID: netip.MustParseAddr("192.0.2.11"), Peers: []vbgp.Peer{peer("wrong-as", "127.0.0.1", wrongAS), peer("good", "127.0.0.2", good.port)}}
	a.set(t, vbgp.Desired{Speaker: sp, Routes: []vbgp.Route{route("203.0.113.10/32", 0)}})
	good.waitRIB(t, "the good router served", map[string]string{"203.0.113.10/32": "med=0 communities="})
	select {
	case n := <-gotWrong:
		// OPEN message error (2), bad peer AS (2).
		if code, sub, ok := notification(n); !ok || code != 2 || sub != 2 {
			t.Errorf("wrong AS: speaker answered % x, want a bad-peer-AS NOTIFICATION", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wrong-AS peer was never told")
	}
	sp.Peers[0] = peer("broken", "127.0.0.1", broken)
	a.set(t, vbgp.Desired{Speaker: sp, Routes: []vbgp.Route{route("203.0.113.10/32", 0)}})
	select {
	case n := <-gotBroken:
		// UPDATE message error (3).
		if code, _, ok := notification(n); !ok || code != 3 {
			t.Errorf("malformed UPDATE: speaker answered % x, want a NOTIFICATION", n)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the broken peer was never told")
	}
	select {
	case err := <-a.done:
		t.Fatalf("the speaker ended: %v", err)
	default:
	}
	a.set(t, vbgp.Desired{Speaker: sp, Routes: []vbgp.Route{route("203.0.113.10/32", 0), route("203.0.113.11/32", 0)}})
	good.waitRIB(t, "the good router still served", map[string]string{"203.0.113.10/32": "med=0 communities=", "203.0.113.11/32": "med=0 communities="})
}

// notification finds the NOTIFICATION in b (BGP messages back to back)
// and returns its error code and subcode.
func notification(b []byte) (code, sub byte, ok bool) {
	for len(b) >= 19 {
		n := int(b[16])<<8 | int(b[17])
		if n < 19 || n > len(b) {
			return 0, 0, false
		}
		if b[18] == 3 && n >= 21 {
			return b[19], b[20], true
		}
		b = b[n:]
	}
	return 0, 0, false
}
