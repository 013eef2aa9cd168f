// Package bgp is what the agent and its BGP speaker (cmd/vigil-bgp, GoBGP
// in a process of its own) say to each other: the agent sends the whole
// state the node should be in (the speaker's settings and the routes to
// announce now), never events to replay, and the speaker reports its
// sessions. Messages are JSON, one per line, on the speaker's standard
// input and output; the agent closing the input stops the speaker, which
// withdraws its routes first.
package bgp

import (
	"net/netip"
	"slices"
	"time"
)

// Desired is everything the speaker is to do: sent whole on every change.
type Desired struct {
	Speaker Speaker `json:"speaker"`
	Routes  []Route `json:"routes"`
}

// Speaker is the speaker's own settings and its peers.
type Speaker struct {
	ASN      uint32     `json:"asn"`
	RouterID netip.Addr `json:"router_id"`
	Peers    []Peer     `json:"peers"`
	// GracefulShutdown is how long routes are sent with RFC 8326's
	// GRACEFUL_SHUTDOWN community before they are withdrawn at a stop;
	// 0 withdraws at once.
	GracefulShutdown time.Duration `json:"graceful_shutdown"`
	// Damping is how long a withdrawn route waits before it is announced
	// again (the agent holds it back; the speaker never sees it).
	Damping time.Duration `json:"-"`
}

// Peer is one BGP neighbour.
type Peer struct {
	Name      string        `json:"name"`
	Addr      netip.Addr    `json:"addr"`
	ASN       uint32        `json:"asn"`
	HoldTime  time.Duration `json:"hold_time"`
	Keepalive time.Duration `json:"keepalive"`
	// ConnectRetry is the wait between attempts to connect: the speaker
	// does not listen, it connects.
	ConnectRetry time.Duration `json:"connect_retry"`
	Password     string        `json:"password,omitempty"` // TCP MD5 (RFC 2385)
	Multihop     uint8         `json:"multihop,omitempty"` // eBGP TTL; 0: directly connected
	Port         uint16        `json:"port,omitempty"`     // the peer's TCP port; 0: 179
	BFD          *BFD          `json:"bfd,omitempty"`
}

// BFD is a peer's BFD session (RFC 5880, single hop).
type BFD struct {
	MinRx      time.Duration `json:"min_rx"`
	MinTx      time.Duration `json:"min_tx"`
	Multiplier uint8         `json:"multiplier"`
}

// Route is one prefix the node announces, with the preference the
// instance's priority gives it.
type Route struct {
	Prefix netip.Prefix `json:"prefix"`
	MED    uint32       `json:"med"`
	// Prepend is how many times the local AS is prepended to the path.
	Prepend uint8 `json:"prepend,omitempty"`
	// Instance is who announces it, for logs.
	Instance string `json:"instance"`
}

// Sorted returns routes sorted by prefix, one per prefix (the last one
// wins), so that equal sets compare equal.
func Sorted(routes []Route) []Route {
	byPrefix := map[netip.Prefix]Route{}
	for _, r := range routes {
		byPrefix[r.Prefix] = r
	}
	out := make([]Route, 0, len(byPrefix))
	for _, r := range byPrefix {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Route) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out
}

// Report is what the speaker says: one of its fields is set.
type Report struct {
	// Peer is a session's state, sent when it changes.
	Peer *PeerState `json:"peer,omitempty"`
	// Route is a route announced (Announced) or withdrawn.
	Route *RouteChange `json:"route,omitempty"`
	// Error is a problem the speaker cannot act on itself (a peer it
	// cannot add), for the agent's log.
	Error string `json:"error,omitempty"`
}

// PeerState is a session's state.
type PeerState struct {
	Name  string    `json:"name"`
	Addr  string    `json:"addr"`
	State string    `json:"state"` // idle, connect, active, opensent, openconfirm, established
	Since time.Time `json:"since"`
	// Reason is why an established session went down, when known.
	Reason string `json:"reason,omitempty"`
}

// RouteChange is a route announced to the speaker's peers, or withdrawn.
type RouteChange struct {
	Route     Route     `json:"route"`
	Announced bool      `json:"announced"`
	At        time.Time `json:"at"`
}
