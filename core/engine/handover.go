package engine

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/priority"
)

// Fast handover (docs/handover.md). Plain VRRP moves an address from a
// master whose priority fell below a backup's only when the backup's
// Master_Down_Timer runs out (3 intervals and more), and from a resigning
// master after Skew_Time. The site policy knows more than the wire: who
// the other nodes are, their priorities and addresses. The engine uses it
// twice, and nowhere else:
//   - a master whose priority falls below a peer it has heard from lately
//     resigns at once (priority 0), so any backup, keepalived's included,
//     takes over after Skew_Time instead of Master_Down_Interval;
//   - a backup that the policy ranks above every other peer but the
//     sender takes over the moment that sender resigns or falls below it.

// heard is when a node's adverts were last received, and their interval.
type heard struct {
	at       time.Time
	interval time.Duration
}

// heardTable is which of the site's nodes advertise now, shared by the
// node's instances; it is used on the loop only.
type heardTable map[netip.Addr]heard

// note records that src is alive (it advertises) or, with priority 0,
// that it is leaving: it is then no longer counted on as a successor. Only
// the policy's peers are kept: the table is bounded by the site, whatever
// sources the segment sends from.
func (h heardTable) note(now time.Time, peers []config.Peer, src netip.Addr, prio uint8, interval time.Duration) {
	if !slices.ContainsFunc(peers, func(p config.Peer) bool { return p.Addr == src }) {
		return
	}
	if prio == 0 {
		delete(h, src)
		return
	}
	h[src] = heard{at: now, interval: interval}
}

// alive reports whether addr advertised within three of its intervals.
func (h heardTable) alive(now time.Time, addr netip.Addr) bool {
	s, ok := h[addr]
	return ok && now.Before(s.at.Add(3*s.interval))
}

// liveBackupAbove is a peer that the policy ranks above priority prio and
// that is known to be alive, or nil.
func (in *instance) liveBackupAbove(now time.Time, prio uint8) *config.Peer {
	for i := range in.cfg.Peers {
		p := &in.cfg.Peers[i]
		if p.Addr.IsValid() && priority.Outranks(p.Priority, p.Addr, prio, in.ch.Source()) && in.env.peers.alive(now, p.Addr) {
			return p
		}
	}
	return nil
}

// successorTo reports whether this instance is the policy's next master
// should src, a peer of the site, resign or fall below us: no other peer
// can reach a priority above ours. A sender the policy does not name (a
// keepalived outside the site, an IPv6 link-local source) gets plain VRRP.
func (in *instance) successorTo(src netip.Addr) bool {
	prio, sender := in.m.Priority(), false
	for _, p := range in.cfg.Peers {
		switch {
		case p.Addr == src:
			sender = true
		case !p.Addr.IsValid(), priority.Outranks(p.MaxPriority, p.Addr, prio, in.ch.Source()):
			return false
		}
	}
	return sender
}

// resignIfOutranked hands mastership over at once when our priority has
// fallen below a live backup's.
func (in *instance) resignIfOutranked(now time.Time) {
	if p := in.liveBackupAbove(now, in.m.Priority()); p != nil {
		in.exec(in.m.Resign(now, fmt.Sprintf("priority fell to %d, below live backup %s (%d)", in.m.Priority(), p.Node, p.Priority)))
	}
}
