// Package config holds what one node runs, as core/policy resolves it
// from a site policy: plain values, defaults applied, names checked. The
// engine, the tracker and the agent read it without the HCL machinery
// (hcl.Range alone, for plugins' diagnostics).
package config

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/core/bgp"
	"github.com/vigil-ha/vigil/core/priority"
	"github.com/vigil-ha/vigil/core/vrrp"
)

// Config is everything one node runs, resolved and validated: defaults
// applied, names checked, durations parsed. The engine needs nothing else.
type Config struct {
	File     string
	Site     string
	Node     string // "" for a per-node file in keepalived's shape
	RouterID string

	StartupDelay     time.Duration
	CheckAdvertAddrs bool
	PluginUser       string
	StatusGroup      string // "" when only root may read the status socket
	MetricsListen    string // host:port of the metrics listener, "" for none
	PluginDir        string
	PluginRestartMax time.Duration

	Instances  []Instance
	SyncGroups []SyncGroup
	Checks     []Check
	Actions    []Action
	Notifiers  []Notifier
	Plugins    []Plugin
	// Static is what the node holds while Vigil runs (keepalived's
	// static_ipaddress, static_routes, static_rules).
	Static Static
	// BGP is the node's BGP speaker; nil when the policy has none or no
	// instance of the node announces over BGP.
	BGP *bgp.Speaker
}

// Instance is one VRRP instance as this node runs it.
type Instance struct {
	Name      string
	Interface string
	VRID      uint8
	Version   vrrp.Version
	Interval  time.Duration
	// Priority is this node's base priority; checks add their weights to it.
	Priority     uint8
	Preempt      bool
	PreemptDelay time.Duration
	Auth         Auth
	// HMAC signs and verifies adverts (keepalived's auth_hmac); nil for
	// none. Auth is then none.
	HMAC         *HMAC
	VIPs         []VIP
	ExcludedVIPs []VIP
	// SourceAddr is the node's primary address if the policy names it;
	// otherwise the engine takes the interface's.
	SourceAddr   netip.Addr
	UnicastPeers []netip.Addr
	// Group is the multicast group adverts go to (zero: the RFC's,
	// 224.0.0.18 or ff02::12).
	Group netip.Addr
	// PeerTTL: the TTL range unicast adverts may arrive with (zero: 255).
	PeerTTL  vrrp.TTLRange
	Track    []TrackCheck
	TrackIfs []TrackInterface
	// IgnoreOwnInterface: the instance's own interface going down does
	// not put it in FAULT (keepalived's dont_track_primary).
	IgnoreOwnInterface bool
	Notify             []string // site's, group's and instance's notifiers, deduplicated
	// BGP is how the instance uses the node's BGP speaker: "master"
	// (its master announces its addresses), or "".
	BGP string
	// NotifyPriorityChanges: notifiers also hear of effective priority
	// changes (keepalived's notify_priority_changes).
	NotifyPriorityChanges bool
	SyncGroup             string
	GARP                  GARP
	// Accept is RFC 5798's Accept_Mode: false drops packets addressed to
	// the VIPs (core/firewall) unless this node owns them (priority 255).
	Accept bool
	Strict bool // the policy asked for strict RFC compliance
	// VMAC names the macvlan interface carrying the virtual router MAC and
	// the VIPs (keepalived's use_vmac); "" for none. Adverts leave from it,
	// or from Interface with VMACXmitBase.
	VMAC         string
	VMACXmitBase bool
	// Routes and Rules are added while master and removed after
	// (keepalived's virtual_routes and virtual_rules).
	Routes []Route
	Rules  []Rule
	// Peers are the other nodes running this instance and their base
	// priorities, from the site policy (empty for a per-node file).
	Peers []Peer
}

// IPv6 reports whether the instance carries IPv6 addresses.
func (i *Instance) IPv6() bool { return len(i.VIPs) > 0 && i.VIPs[0].Prefix.Addr().Is6() }

// Auth is VRRPv2 authentication.
type Auth struct {
	Type     vrrp.AuthType
	Password [8]byte
}

// HMAC is keepalived's auth_hmac for one instance (vrrp.HMACConfig less
// what the instance itself says).
type HMAC struct {
	Keys       map[uint8]Secret
	ActiveKey  uint8
	Mode       vrrp.HMACMode
	AntiReplay vrrp.AntiReplay
	Window     time.Duration
	// Inline: some key is written in the policy itself (not secret_file).
	Inline bool
}

// Secret is key material: it prints as asterisks however it is printed,
// so that no log, plan or status can show it.
type Secret []byte

func (Secret) String() string               { return "********" }
func (Secret) GoString() string             { return `"********"` }
func (Secret) MarshalText() ([]byte, error) { return []byte("********"), nil }
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, "********") }

// VIP is a virtual address and how to configure it.
type VIP struct {
	Prefix    netip.Prefix
	Label     string
	Scope     string // global, site, link, host
	Interface string // "" means the instance's
}

// TrackCheck applies a check's result to an instance.
type TrackCheck struct {
	Check  string
	Weight int
	// Fault: failing means FAULT instead of a weight (weight 0, or the
	// instance is in a sync group).
	Fault bool
	// Reverse: the check weighs (or faults) the other way round.
	Reverse bool
}

// Source is the check as the priority rules see it.
func (t TrackCheck) Source() priority.Source {
	return priority.Source{Weight: t.Weight, Fault: t.Fault, Reverse: t.Reverse}
}

// TrackInterface applies an interface's link state to an instance.
type TrackInterface struct {
	Name   string
	Weight int
	Fault  bool // down means FAULT (weight 0, or in a sync group)
	// Reverse: the link weighs (or faults) the other way round.
	Reverse bool
}

// Source is the interface as the priority rules see it.
func (t TrackInterface) Source() priority.Source {
	return priority.Source{Weight: t.Weight, Fault: t.Fault, Reverse: t.Reverse}
}

// GARP holds the gratuitous ARP / unsolicited NA settings.
type GARP struct {
	MasterDelay   time.Duration
	MasterRepeat  int
	MasterRefresh time.Duration
	Interval      time.Duration // between ARP packets
	NAInterval    time.Duration // between NA packets
}

// Peer is another node running the same instance.
type Peer struct {
	Node     string
	Priority uint8
	// MaxPriority is the highest priority the peer can reach with its
	// positive weights; a node is the policy's successor only if it is
	// above every other peer's.
	MaxPriority uint8
	Addr        netip.Addr // invalid when the policy does not name it
}

// Sources are everything the instance tracks, checks then interfaces.
func (i *Instance) Sources() []priority.Source {
	var out []priority.Source
	for _, t := range i.Track {
		out = append(out, t.Source())
	}
	for _, t := range i.TrackIfs {
		out = append(out, t.Source())
	}
	return out
}

// MaxPriority is the highest effective priority the instance can reach:
// its base with every positive weight applied.
func (i *Instance) MaxPriority() uint8 { return priority.Ceiling(i.Priority, i.Sources()) }

// SyncGroup is a set of instances that change state together.
type SyncGroup struct {
	Name      string
	Instances []string
	Notify    []string
}

// Check is a health check this node runs.
type Check struct {
	Name     string
	Plugin   string
	Interval time.Duration
	Timeout  time.Duration
	Weight   int
	Reverse  bool
	// InitFail: the check starts failing, not passing, until Rise
	// successes (keepalived's init_fail).
	InitFail bool
	Rise     int
	Fall     int
	Config   PluginConfig
}

// Action is a recovery action run when a check fails.
type Action struct {
	Name      string
	Plugin    string
	When      string
	Instances []string
	Timeout   time.Duration
	Retries   int
	Config    PluginConfig
}

// Notifier receives state changes.
type Notifier struct {
	Name   string
	Plugin string
	Config PluginConfig
}

// Plugin is an external plugin binary, or (Path "") the options of a
// built-in plugin.
type Plugin struct {
	Name   string
	Path   string
	Args   []string
	SHA256 string // lower-case hex, "" when not pinned
	User   string
	Group  string // "" for the user's own
	// PassEnv names environment variables the plugin gets besides the
	// locale, time zone and PATH.
	PassEnv []string
}

// PluginConfig is a plugin's config block as JSON (plain types cross the
// plugin boundary), with the source range of each attribute so that a
// plugin's complaint about one can point at the line.
type PluginConfig struct {
	JSON   json.RawMessage
	Ranges map[string]Range
	Block  Range
}

// Range is a span of a policy file, as hcl.Range has it (core/policy
// makes it, the agent turns it back into one for a diagnostic); a type of
// its own keeps the HCL machinery out of what the engine imports.
type Range struct {
	Filename   string
	Start, End Pos
}

// Pos is a position in a file: line and column from 1, byte offset from 0.
type Pos struct {
	Line, Column, Byte int
}

// secretWords name config attributes that hold a secret.
var secretWords = []string{"password", "secret", "token", "passphrase", "key"}

// HoldsSecret reports whether c carries a secret: a VRRP password, or a
// plugin config attribute named like one (smtp-notify's password).
func (c *Config) HoldsSecret() bool {
	for _, in := range c.Instances {
		if in.Auth.Type != vrrp.AuthNone || (in.HMAC != nil && in.HMAC.Inline) {
			return true
		}
	}
	if c.BGP != nil && slices.ContainsFunc(c.BGP.Peers, func(p bgp.Peer) bool { return p.Password != "" }) {
		return true
	}
	var cfgs []PluginConfig
	for _, x := range c.Checks {
		cfgs = append(cfgs, x.Config)
	}
	for _, x := range c.Actions {
		cfgs = append(cfgs, x.Config)
	}
	for _, x := range c.Notifiers {
		cfgs = append(cfgs, x.Config)
	}
	for _, pc := range cfgs {
		for attr := range pc.Ranges {
			for _, w := range secretWords {
				if strings.Contains(strings.ToLower(attr), w) {
					return true
				}
			}
		}
	}
	return false
}

// Route is a route a master adds (keepalived's virtual_routes).
type Route struct {
	To     netip.Prefix // 0.0.0.0/0 or ::/0 for default
	Via    netip.Addr
	Dev    string // "" lets the kernel pick it from Via
	Src    netip.Addr
	Table  int // 0: main
	Metric int
	Scope  string // "", "global", "link", "host"
	Type   string // "", "unicast", "blackhole", "unreachable", "prohibit"
	OnLink bool
}

// String is the route as ip route writes it: the key of the state record.
func (r Route) String() string {
	var b strings.Builder
	if r.Type != "" && r.Type != "unicast" {
		b.WriteString(r.Type + " ")
	}
	b.WriteString(r.To.String())
	if r.Via.IsValid() {
		b.WriteString(" via " + r.Via.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Src.IsValid() {
		b.WriteString(" src " + r.Src.String())
	}
	if r.Table != 0 {
		fmt.Fprintf(&b, " table %d", r.Table)
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	if r.Scope != "" {
		b.WriteString(" scope " + r.Scope)
	}
	if r.OnLink {
		b.WriteString(" onlink")
	}
	return b.String()
}

// Rule is a policy routing rule a master adds (keepalived's
// virtual_rules).
type Rule struct {
	From, To netip.Prefix // unset: any
	Table    int
	Priority int // 0: the kernel picks
	Iif, Oif string
	FWMark   uint32
	FWMask   uint32 // 0: all bits
	Invert   bool   // "not"
	V6       bool   // the family, when neither From nor To says
}

// String is the rule as ip rule writes it: the key of the state record.
func (r Rule) String() string {
	var b strings.Builder
	if r.V6 {
		b.WriteString("-6 ")
	}
	if r.Priority != 0 {
		fmt.Fprintf(&b, "priority %d ", r.Priority)
	}
	if r.Invert {
		b.WriteString("not ")
	}
	b.WriteString("from ")
	if r.From.IsValid() {
		b.WriteString(r.From.String())
	} else {
		b.WriteString("all")
	}
	if r.To.IsValid() {
		b.WriteString(" to " + r.To.String())
	}
	if r.Iif != "" {
		b.WriteString(" iif " + r.Iif)
	}
	if r.Oif != "" {
		b.WriteString(" oif " + r.Oif)
	}
	if r.FWMark != 0 || r.FWMask != 0 {
		fmt.Fprintf(&b, " fwmark %#x", r.FWMark)
		if r.FWMask != 0 {
			fmt.Fprintf(&b, "/%#x", r.FWMask)
		}
	}
	fmt.Fprintf(&b, " table %d", r.Table)
	return b.String()
}

// Static is what a node holds while Vigil runs, whatever its instances'
// states: added at start, removed at stop.
type Static struct {
	Addrs  []VIP // each with its interface
	Routes []Route
	Rules  []Rule
}

// Standalone reports whether the instance runs without VRRP (BGP health
// mode): master whenever it is healthy, on every node.
func (in Instance) Standalone() bool { return in.BGP == "health" }

// Empty reports whether there is nothing to hold.
func (s Static) Empty() bool { return len(s.Addrs)+len(s.Routes)+len(s.Rules) == 0 }

// AuthName is how the instance's adverts are authenticated, as status,
// plan and logs show it (never a secret): "none", "pass", or "hmac MODE
// key ID".
func (i *Instance) AuthName() string {
	switch {
	case i.Standalone():
		return "none" // no VRRP, no adverts
	case i.HMAC != nil:
		return fmt.Sprintf("hmac %v key %d", i.HMAC.Mode, i.HMAC.ActiveKey)
	case i.Version == vrrp.V2 && i.Auth.Type == vrrp.AuthPass:
		return "pass"
	}
	return "none"
}
