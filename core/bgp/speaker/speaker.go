// Package speaker is the BGP speaker the agent runs in a process of its
// own (cmd/vigil-bgp): GoBGP, told by the agent the whole state it should
// be in (core/bgp) and reconciling to it. It never listens: it connects to
// its peers. It accepts no route from them (import policy: reject, and a
// prefix limit per session), so nothing a peer sends reaches the node.
package speaker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	vbgp "github.com/vigil-ha/vigil/core/bgp"
)

// MaxPrefixes is how many prefixes of a family a peer may send before the
// session is closed: the speaker takes none, and what GoBGP holds of them
// stays bounded whatever a peer sends.
const MaxPrefixes = 10000

// maxLine bounds one message from the agent.
const maxLine = 16 << 20

// gracefulShutdown is RFC 8326's GRACEFUL_SHUTDOWN community, 65535:0.
const gracefulShutdown = 0xFFFF0000

// Speaker reconciles GoBGP to what the agent wants.
type Speaker struct {
	log     hclog.Logger
	bgp     *server.BgpServer
	started bool
	global  vbgp.Speaker // as started: ASN and router id
	peers   map[netip.Addr]vbgp.Peer
	routes  map[netip.Prefix]vbgp.Route

	mu  sync.Mutex // out
	out *json.Encoder
}

// Run serves the agent on in and out until in ends (the agent stopped, or
// died), then withdraws its routes, closes its sessions and returns.
func Run(ctx context.Context, in io.Reader, out io.Writer, log hclog.Logger) error {
	lvl := &slog.LevelVar{}
	lvl.Set(slog.LevelWarn) // GoBGP's own lines: problems only
	gl := slog.New(slog.NewTextHandler(log.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true}), &slog.HandlerOptions{Level: lvl}))
	s := &Speaker{log: log, bgp: server.NewBgpServer(server.LoggerOption(gl, lvl)), out: json.NewEncoder(out),
		peers: map[netip.Addr]vbgp.Peer{}, routes: map[netip.Prefix]vbgp.Route{}}
	go s.bgp.Serve()
	defer s.bgp.Stop()
	var last vbgp.Desired
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		var d vbgp.Desired
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			s.report(vbgp.Report{Error: "unreadable message from the agent: " + err.Error()})
			continue
		}
		if err := s.apply(ctx, d); err != nil {
			s.report(vbgp.Report{Error: err.Error()})
		}
		last = d
	}
	return s.stop(ctx, last.Speaker.GracefulShutdown)
}

func (s *Speaker) report(r vbgp.Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out.Encode(r) // the agent gone: nothing to tell
}

// apply reconciles the speaker to d: settings, peers, then routes.
func (s *Speaker) apply(ctx context.Context, d vbgp.Desired) error {
	if s.started && (d.Speaker.ASN != s.global.ASN || d.Speaker.RouterID != s.global.RouterID) {
		if err := s.bgp.StopBgp(ctx, &api.StopBgpRequest{}); err != nil {
			return fmt.Errorf("restart for a new AS or router id: %w", err)
		}
		s.started, s.peers, s.routes = false, map[netip.Addr]vbgp.Peer{}, map[netip.Prefix]vbgp.Route{}
	}
	if !s.started {
		if err := s.start(ctx, d.Speaker); err != nil {
			return err
		}
	}
	var errs []error
	errs = append(errs, s.setPeers(ctx, d.Speaker.Peers)...)
	errs = append(errs, s.setRoutes(d.Routes)...)
	return errors.Join(errs...)
}

func (s *Speaker) start(ctx context.Context, g vbgp.Speaker) error {
	err := s.bgp.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: g.ASN, RouterId: g.RouterID.String(), ListenPort: -1}})
	if err != nil {
		return fmt.Errorf("start BGP (AS %d, router id %v): %w", g.ASN, g.RouterID, err)
	}
	// Only the node's own routes go in and out: nothing a peer sends is
	// taken, so none is passed on to another peer either.
	local := &api.Policy{Name: "vigil-local-only", Statements: []*api.Statement{{Name: "local",
		Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
		Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT}}}}
	if err := s.bgp.AddPolicy(ctx, &api.AddPolicyRequest{Policy: local}); err != nil {
		return fmt.Errorf("add the route policy: %w", err)
	}
	for _, dir := range []api.PolicyDirection{api.PolicyDirection_POLICY_DIRECTION_IMPORT, api.PolicyDirection_POLICY_DIRECTION_EXPORT} {
		err = s.bgp.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
			Name: "global", Direction: dir, Policies: []*api.Policy{{Name: local.Name}}, DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT}})
		if err != nil {
			return fmt.Errorf("set the route policy: %w", err)
		}
	}
	if err := s.bgp.WatchEvent(ctx, server.WatchEventMessageCallbacks{OnPeerUpdate: s.peerEvent}, server.WatchPeer()); err != nil {
		return fmt.Errorf("watch sessions: %w", err)
	}
	s.started, s.global = true, g
	return nil
}

// peerEvent reports a session's change of state.
func (s *Speaker) peerEvent(ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	st := vbgp.PeerState{Addr: ev.Peer.State.NeighborAddress.String(), State: stateName(ev.Peer.State.SessionState), Since: at}
	if p, ok := s.peerByAddr(ev.Peer.State.NeighborAddress); ok {
		st.Name = p.Name
	}
	if ev.Peer.State.SessionState != bgp.BGP_FSM_ESTABLISHED && ev.Peer.State.DisconnectMessage != "" {
		st.Reason = ev.Peer.State.DisconnectMessage
	}
	s.report(vbgp.Report{Peer: &st})
}

func (s *Speaker) peerByAddr(a netip.Addr) (vbgp.Peer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.peers[a.Unmap()]
	return p, ok
}

// stateName is a session state in RFC 4271's words, lower case.
func stateName(st bgp.FSMState) string {
	switch st {
	case bgp.BGP_FSM_IDLE:
		return "idle"
	case bgp.BGP_FSM_CONNECT:
		return "connect"
	case bgp.BGP_FSM_ACTIVE:
		return "active"
	case bgp.BGP_FSM_OPENSENT:
		return "opensent"
	case bgp.BGP_FSM_OPENCONFIRM:
		return "openconfirm"
	case bgp.BGP_FSM_ESTABLISHED:
		return "established"
	}
	return st.String()
}

// setPeers adds, changes and removes sessions to match want.
func (s *Speaker) setPeers(ctx context.Context, want []vbgp.Peer) []error {
	var errs []error
	keep := map[netip.Addr]bool{}
	for _, p := range want {
		keep[p.Addr] = true
		old, had := s.peers[p.Addr]
		if had && old == p || had && equalPeer(old, p) {
			continue
		}
		if had {
			if err := s.bgp.DeletePeer(ctx, &api.DeletePeerRequest{Address: p.Addr.String()}); err != nil {
				errs = append(errs, fmt.Errorf("peer %s (%v): %w", p.Name, p.Addr, err))
				continue
			}
		}
		if err := s.bgp.AddPeer(ctx, &api.AddPeerRequest{Peer: peerConfig(p)}); err != nil {
			errs = append(errs, fmt.Errorf("peer %s (%v): %w", p.Name, p.Addr, err))
			s.setPeer(p.Addr, nil)
			continue
		}
		s.setPeer(p.Addr, &p)
	}
	for a, p := range s.peers {
		if !keep[a] {
			if err := s.bgp.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()}); err != nil {
				errs = append(errs, fmt.Errorf("remove peer %s (%v): %w", p.Name, a, err))
				continue
			}
			s.setPeer(a, nil)
		}
	}
	return errs
}

func (s *Speaker) setPeer(a netip.Addr, p *vbgp.Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p == nil {
		delete(s.peers, a)
		return
	}
	s.peers[a] = *p
}

func equalPeer(a, b vbgp.Peer) bool {
	if (a.BFD == nil) != (b.BFD == nil) || a.BFD != nil && *a.BFD != *b.BFD {
		return false
	}
	a.BFD, b.BFD = nil, nil
	return a == b
}

// peerConfig is p as GoBGP takes it: both unicast families of the
// session's address family, a prefix limit, timers, MD5, BFD.
func peerConfig(p vbgp.Peer) *api.Peer {
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if p.Addr.Is6() {
		fam = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
	}
	ap := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Addr.String(), PeerAsn: p.ASN, AuthPassword: p.Password, Description: p.Name},
		Timers: &api.Timers{Config: &api.TimersConfig{HoldTime: seconds(p.HoldTime), KeepaliveInterval: seconds(p.Keepalive),
			ConnectRetry: seconds(p.ConnectRetry), IdleHoldTimeAfterReset: 1}},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true},
			PrefixLimits: &api.PrefixLimit{Family: fam, MaxPrefixes: MaxPrefixes}}},
	}
	if p.Port != 0 {
		ap.Transport = &api.Transport{RemotePort: uint32(p.Port)}
	}
	if p.Multihop > 0 {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.Multihop)}
	}
	if p.BFD != nil {
		ap.Bfd = &api.BfdPeerConfig{Enabled: true, DesiredMinimumTxInterval: uint32(p.BFD.MinTx.Microseconds()),
			RequiredMinimumReceive: uint32(p.BFD.MinRx.Microseconds()), DetectionMultiplier: uint32(p.BFD.Multiplier)}
	}
	return ap
}

func seconds(d time.Duration) uint64 { return uint64(d.Round(time.Second) / time.Second) }

// setRoutes announces what want has and withdraws the rest: a route whose
// preference changed is announced again, which replaces it.
func (s *Speaker) setRoutes(want []vbgp.Route) []error {
	var errs []error
	keep := map[netip.Prefix]bool{}
	for _, r := range vbgp.Sorted(want) {
		keep[r.Prefix] = true
		if old, ok := s.routes[r.Prefix]; ok && old == r {
			continue
		}
		if err := s.announce(r, false); err != nil {
			errs = append(errs, err)
			continue
		}
		s.routes[r.Prefix] = r
		s.report(vbgp.Report{Route: &vbgp.RouteChange{Route: r, Announced: true, At: time.Now()}})
	}
	for p, r := range s.routes {
		if keep[p] {
			continue
		}
		if err := s.withdraw(r); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.routes, p)
		s.report(vbgp.Report{Route: &vbgp.RouteChange{Route: r, At: time.Now()}})
	}
	return errs
}

// path is r as GoBGP takes it, with the speaker's own address as next hop
// (unspecified: GoBGP puts the session's local address).
func (s *Speaker) path(r vbgp.Route, shutdown bool) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(r.Prefix.Masked())
	if err != nil {
		return nil, err
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP), bgp.NewPathAttributeMultiExitDisc(r.MED)}
	if r.Prefix.Addr().Is4() {
		nh, err := bgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, nh)
	} else {
		mp, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, mp)
	}
	if r.Prepend > 0 {
		as := make([]uint32, r.Prepend)
		for i := range as {
			as[i] = s.global.ASN
		}
		attrs = append(attrs, bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, as)}))
	}
	if shutdown {
		attrs = append(attrs, bgp.NewPathAttributeCommunities([]uint32{gracefulShutdown}))
	}
	fam := bgp.RF_IPv4_UC
	if r.Prefix.Addr().Is6() {
		fam = bgp.RF_IPv6_UC
	}
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs}, nil
}

func (s *Speaker) announce(r vbgp.Route, shutdown bool) error {
	p, err := s.path(r, shutdown)
	if err == nil {
		_, err = s.bgp.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{p}})
	}
	if err != nil {
		return fmt.Errorf("announce %v: %w", r.Prefix, err)
	}
	return nil
}

func (s *Speaker) withdraw(r vbgp.Route) error {
	p, err := s.path(r, false)
	if err == nil {
		err = s.bgp.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{p}})
	}
	if err != nil {
		return fmt.Errorf("withdraw %v: %w", r.Prefix, err)
	}
	return nil
}

// stop ends the speaker at the agent's stop: its routes are sent with the
// GRACEFUL_SHUTDOWN community for grace (RFC 8326: routers prefer the
// other paths), then withdrawn, then the sessions close.
func (s *Speaker) stop(ctx context.Context, grace time.Duration) error {
	if !s.started {
		return nil
	}
	if grace > 0 && len(s.routes) > 0 {
		for _, r := range s.routes {
			if err := s.announce(r, true); err != nil {
				s.log.Warn("cannot send the graceful shutdown community", "prefix", r.Prefix, "error", err)
			}
		}
		time.Sleep(grace)
	}
	s.setRoutes(nil)
	// The withdrawals leave before the NOTIFICATION that closes the
	// sessions (which makes the routers drop the routes anyway).
	time.Sleep(100 * time.Millisecond)
	return s.bgp.StopBgp(ctx, &api.StopBgpRequest{})
}
