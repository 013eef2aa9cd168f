package policy

import (
	"github.com/vigil-ha/vigil/core/config"

	"github.com/vigil-ha/vigil/core/priority"
	"github.com/vigil-ha/vigil/core/syncgroup"

	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Plan is what a site does: who owns each address, in which order the others
// back it up, and where each address goes after any single failure.
type Plan struct {
	Site      string         `json:"site"`
	Nodes     []string       `json:"nodes"`
	Instances []InstancePlan `json:"instances"`
	Warnings  []string       `json:"warnings"`
	// Rollout, with plan --from, is each instance's authentication change
	// from the previous policy and whether deploying it node by node
	// keeps the nodes hearing each other.
	Rollout []Rollout `json:"rollout,omitempty"`
}

// InstancePlan is the plan of one instance.
type InstancePlan struct {
	Name     string   `json:"name"`
	VRID     uint8    `json:"vrid"`
	Version  int      `json:"version"`
	Interval string   `json:"advert_interval"`
	VIPs     []string `json:"vips"`
	// BGP is the instance's BGP mode: "master", "health" (no VRRP: every
	// healthy node announces, routers send traffic to the highest
	// priority, ties share it) or "".
	BGP      string     `json:"bgp,omitempty"`
	Auth     string     `json:"auth"`  // "none", "pass", "hmac MODE key ID": never a secret
	Order    []NodePrio `json:"order"` // owner first
	Failures []Failure  `json:"failures"`
}

// NodePrio is a node and its effective priority in some situation.
type NodePrio struct {
	Node     string `json:"node"`
	Priority int    `json:"priority"`
}

// Failure is one single failure and its outcome.
type Failure struct {
	Event string     `json:"event"`
	Owner string     `json:"owner"` // "" when no node is left
	Moves bool       `json:"moves"`
	Why   string     `json:"why"`
	Order []NodePrio `json:"order"`
}

// scenario is a single failure: a node down, or a check failing on a node
// (possibly followed by its action yielding).
type scenario struct {
	event   string
	down    string // node that is down
	node    string // node where check fails
	check   string
	yielded []string // instances yielded by an action
}

// Plan computes the site's plan; node, when not "", limits it to the
// instances that node runs.
func (s *Site) Plan(node string) *Plan {
	p := &Plan{Site: s.Name, Nodes: s.Nodes}
	nodes := s.Nodes
	if s.PerNode {
		nodes = []string{""}
	}
	scenarios := s.scenarios(nodes)
	masterOf := map[string]int{}
	top := 0
	for _, si := range s.instances {
		for _, pr := range si.Priorities {
			if int(pr) > top && pr != 255 {
				top = int(pr)
			}
		}
	}
	for _, si := range s.instances {
		inst := s.instance(si.Name)
		if inst == nil || (node != "" && !s.PerNode && si.Priorities[node] == 0) {
			continue
		}
		ip := InstancePlan{Name: si.Name, VRID: inst.VRID, Version: int(inst.Version), Interval: inst.Interval.String(), BGP: inst.BGP, Auth: inst.AuthName()}
		for _, v := range inst.VIPs {
			ip.VIPs = append(ip.VIPs, v.Prefix.String())
		}
		ip.Order = s.order(si.Name, nodes, scenario{})
		if len(ip.Order) > 0 {
			masterOf[ip.Order[0].Node]++
		}
		for _, sc := range scenarios {
			if f, ok := s.failure(si.Name, nodes, ip.Order, sc); ok {
				ip.Failures = append(ip.Failures, f)
			}
		}
		p.Instances = append(p.Instances, ip)
		p.Warnings = append(p.Warnings, s.instanceWarnings(si, ip, top)...)
	}
	if !s.PerNode && node == "" {
		for _, n := range s.Nodes {
			if masterOf[n] == 0 {
				p.Warnings = append(p.Warnings, fmt.Sprintf("node %s is master of nothing: it only backs up. Intended for a standby; in active-active designs give it an instance at the top priority.", n))
			}
		}
		byID := map[string][]string{}
		for _, n := range s.Nodes {
			byID[s.routerIDs[n]] = append(byID[s.routerIDs[n]], n)
		}
		for _, id := range keys(byID) {
			if len(byID[id]) > 1 {
				p.Warnings = append(p.Warnings, fmt.Sprintf("nodes %s share router id %q: logs and mail will not say which node spoke. Was one node's configuration copied from another?", strings.Join(byID[id], ", "), id))
			}
		}
	}
	return p
}

func (s *Site) instance(name string) *config.Instance {
	for _, c := range s.configs {
		for i := range c.Instances {
			if c.Instances[i].Name == name {
				return &c.Instances[i]
			}
		}
	}
	return nil
}

// nodeInstance is the instance as node runs it, or nil.
func (s *Site) nodeInstance(node, name string) *config.Instance {
	c := s.configs[node]
	if c == nil {
		return nil
	}
	for i := range c.Instances {
		if c.Instances[i].Name == name {
			return &c.Instances[i]
		}
	}
	return nil
}

func (s *Site) scenarios(nodes []string) []scenario {
	var out []scenario
	if !s.PerNode {
		for _, n := range nodes {
			out = append(out, scenario{event: n + " down", down: n})
		}
	}
	for _, n := range nodes {
		c := s.configs[n]
		for _, ck := range c.Checks {
			where := ""
			if n != "" {
				where = " on " + n
			}
			out = append(out, scenario{event: fmt.Sprintf("check %s fails%s", ck.Name, where), node: n, check: ck.Name})
			for _, a := range c.Actions {
				if a.When == ck.Name && len(a.Instances) > 0 {
					out = append(out, scenario{event: fmt.Sprintf("check %s fails%s and action %s yields", ck.Name, where, a.Name), node: n, check: ck.Name, yielded: a.Instances})
				}
			}
		}
	}
	return out
}

// effective is node's priority for instance name under sc, or ok=false when
// the node is down or the instance is in FAULT there, on its own account or
// because another member of its sync group is.
func (s *Site) effective(node, name string, sc scenario) (int, bool) {
	p, ok := s.ownEffective(node, name, sc)
	var mates []bool
	for _, m := range s.groupMates(node, name) {
		_, mok := s.ownEffective(node, m, sc)
		mates = append(mates, mok)
	}
	if !syncgroup.Eligible(ok, mates...) {
		return 0, false
	}
	return p, true
}

// groupMates are the other instances of name's sync group that node runs.
func (s *Site) groupMates(node, name string) []string {
	inst := s.nodeInstance(node, name)
	if inst == nil || inst.SyncGroup == "" {
		return nil
	}
	var out []string
	for _, g := range s.configs[node].SyncGroups {
		if g.Name != inst.SyncGroup {
			continue
		}
		for _, m := range g.Instances {
			if m != name && s.nodeInstance(node, m) != nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// ownEffective is effective without the sync group.
func (s *Site) ownEffective(node, name string, sc scenario) (int, bool) {
	inst := s.nodeInstance(node, name)
	if inst == nil || node == sc.down && sc.down != "" {
		return 0, false
	}
	if node == sc.node && slices.Contains(sc.yielded, name) {
		return 0, false
	}
	var deltas []int
	for _, t := range inst.Track {
		failing := node == sc.node && t.Check == sc.check
		if t.Source().Faults(failing) {
			return 0, false
		}
		deltas = append(deltas, t.Source().Delta(failing))
	}
	for _, t := range inst.TrackIfs {
		deltas = append(deltas, t.Source().Delta(false)) // plan's scenarios keep links up
	}
	return int(priority.Effective(inst.Priority, deltas...)), true
}

// order ranks the nodes running name by effective priority, ties broken by
// the higher known address (else by name, flagged by a warning elsewhere).
func (s *Site) order(name string, nodes []string, sc scenario) []NodePrio {
	var out []NodePrio
	for _, n := range nodes {
		if p, ok := s.effective(n, name, sc); ok {
			out = append(out, NodePrio{Node: n, Priority: p})
		}
	}
	if inst := s.instance(name); inst != nil && inst.Standalone() {
		// Routers compare MEDs: equal priorities share the traffic.
		slices.SortStableFunc(out, func(a, b NodePrio) int { return b.Priority - a.Priority })
		return out
	}
	slices.SortStableFunc(out, func(a, b NodePrio) int {
		switch {
		case priority.Outranks(uint8(a.Priority), s.nodeAddrs[a.Node], uint8(b.Priority), s.nodeAddrs[b.Node]):
			return -1
		case priority.Outranks(uint8(b.Priority), s.nodeAddrs[b.Node], uint8(a.Priority), s.nodeAddrs[a.Node]):
			return 1
		}
		return 0
	})
	return out
}

func (s *Site) failure(name string, nodes []string, normal []NodePrio, sc scenario) (Failure, bool) {
	// Only failures that touch this instance: its node going down, or a
	// check it tracks failing on a node that runs it.
	if sc.down != "" && s.nodeInstance(sc.down, name) == nil {
		return Failure{}, false
	}
	if sc.check != "" {
		touched := false
		for _, n := range append(s.groupMates(sc.node, name), name) {
			inst := s.nodeInstance(sc.node, n)
			touched = touched || inst != nil && (slices.ContainsFunc(inst.Track, func(t config.TrackCheck) bool { return t.Check == sc.check }) || slices.Contains(sc.yielded, n))
		}
		if !touched {
			return Failure{}, false
		}
	}
	order := s.order(name, nodes, sc)
	f := Failure{Event: sc.event, Order: order}
	before := ""
	if len(normal) > 0 {
		before = normal[0].Node
	}
	if len(order) == 0 {
		f.Why = "no node is left to hold the address"
		f.Moves = true
		return f, true
	}
	f.Owner = order[0].Node
	if inst := s.instance(name); inst != nil && inst.Standalone() {
		f.Owner, before = strings.Join(best(order), "+"), strings.Join(best(normal), "+")
	}
	f.Moves = f.Owner != before
	switch {
	case sc.down != "" && f.Moves:
		f.Why = fmt.Sprintf("%s has the highest priority left (%d)", f.Owner, order[0].Priority)
	case sc.down != "":
		f.Why = fmt.Sprintf("%s keeps it; %s was a backup", f.Owner, sc.down)
	case len(sc.yielded) > 0 && f.Moves:
		f.Why = fmt.Sprintf("%s yields (FAULT); %s takes over at %d", sc.node, f.Owner, order[0].Priority)
	case f.Moves:
		was, _ := s.effective(sc.node, name, scenario{})
		now, ok := s.effective(sc.node, name, sc)
		_, own := s.ownEffective(sc.node, name, sc)
		switch {
		case !ok && own:
			f.Why = fmt.Sprintf("%s goes to FAULT with its sync group %s; %s takes over at %d", sc.node, s.nodeInstance(sc.node, name).SyncGroup, f.Owner, order[0].Priority)
		case !ok:
			f.Why = fmt.Sprintf("%s goes to FAULT (weight 0); %s takes over at %d", sc.node, f.Owner, order[0].Priority)
		default:
			f.Why = fmt.Sprintf("%s drops from %d to %d, below %s's %d", sc.node, was, now, f.Owner, order[0].Priority)
		}
	default:
		now, ok := s.effective(sc.node, name, sc)
		switch {
		case !ok:
			f.Why = fmt.Sprintf("%s goes to FAULT; %s keeps it", sc.node, f.Owner)
		case sc.node == f.Owner && len(order) > 1:
			f.Why = fmt.Sprintf("%s drops to %d, still above %s's %d", sc.node, now, order[1].Node, order[1].Priority)
		default:
			f.Why = fmt.Sprintf("%s drops to %d; %s keeps it", sc.node, now, f.Owner)
		}
	}
	return f, true
}

func (s *Site) instanceWarnings(si siteInstance, ip InstancePlan, top int) []string {
	var w []string
	if len(ip.Order) == 0 {
		return []string{fmt.Sprintf("%s: no node runs it", si.Name)}
	}
	if !s.PerNode {
		if ip.Order[0].Priority < top {
			w = append(w, fmt.Sprintf("%s has no node at the site's top priority %d: its owner %s holds it at %d, a backup's priority elsewhere in this site. Was a MASTER line lost?", si.Name, top, ip.Order[0].Node, ip.Order[0].Priority))
		}
		if len(ip.Order) > 1 && ip.Order[1].Priority == ip.Order[0].Priority && ip.BGP != "health" {
			var tied []string
			for _, np := range ip.Order {
				if np.Priority == ip.Order[0].Priority {
					tied = append(tied, np.Node)
				}
			}
			w = append(w, fmt.Sprintf("%s: nodes %s claim it at priority %d; the higher primary address wins, so who owns it depends on addressing, not on the policy", si.Name, strings.Join(tied, " and "), ip.Order[0].Priority))
		}
	}
	owner := ip.Order[0].Node
	for _, f := range ip.Failures {
		inst := s.nodeInstance(owner, si.Name)
		if inst == nil || !strings.HasPrefix(f.Event, "check ") || f.Moves || !strings.HasSuffix(f.Event, " on "+owner) && owner != "" || len(ip.Order) < 2 {
			continue
		}
		for _, t := range inst.Track {
			if f.Event == fmt.Sprintf("check %s fails on %s", t.Check, owner) || (owner == "" && f.Event == "check "+t.Check+" fails") {
				w = append(w, fmt.Sprintf("check %s (weight %d) never moves %s: when it fails on %s, %s", t.Check, t.Weight, si.Name, owner, f.Why))
			}
		}
	}
	return w
}

// best is the nodes of the top priority: where a BGP router sends the
// traffic (ECMP when several).
func best(order []NodePrio) []string {
	var out []string
	for _, np := range order {
		if np.Priority == order[0].Priority {
			out = append(out, np.Node)
		}
	}
	return out
}

// WriteText prints the plan for people: the ownership table, then each
// instance's backup order and failures, then warnings.
func (p *Plan) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "site %s\n\n", p.Site)
	header := []string{"instance", "vrid", "vip"}
	header = append(header, p.Nodes...)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, ip := range p.Instances {
		vrid := fmt.Sprint(ip.VRID)
		if ip.BGP == "health" {
			vrid = "-" // no VRRP
		}
		row := []string{ip.Name, vrid, strings.Join(ip.VIPs, " ")}
		for _, n := range p.Nodes {
			cell := "-"
			for i, np := range ip.Order {
				if np.Node == n {
					role := "BACKUP"
					switch {
					case ip.BGP == "health" && np.Priority == ip.Order[0].Priority:
						role = "ROUTED"
					case ip.BGP == "health":
						role = "ANNOUNCED"
					case i == 0:
						role = "MASTER"
					}
					cell = fmt.Sprintf("%s %d", role, np.Priority)
				}
			}
			row = append(row, cell)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	for _, ip := range p.Instances {
		if ip.BGP == "health" {
			top := best(ip.Order)
			fmt.Fprintf(w, "\n%s (BGP health mode, no VRRP; MED 255 minus priority): %s\n", ip.Name, strings.Join(ip.VIPs, ", "))
			fmt.Fprintf(w, "  routed to %s (MED %d%s), then %s\n", strings.Join(top, " and "), 255-ip.Order[0].Priority, map[bool]string{true: ", ECMP"}[len(top) > 1], orderText(ip.Order[len(top):]))
		} else {
			mode := ""
			if ip.BGP == "master" {
				mode = ", announced over BGP by the master"
			}
			if ip.Auth != "none" && ip.Auth != "" {
				mode += ", auth " + ip.Auth
			}
			fmt.Fprintf(w, "\n%s (vrid %d, VRRPv%d every %s%s): %s\n", ip.Name, ip.VRID, ip.Version, ip.Interval, mode, strings.Join(ip.VIPs, ", "))
			fmt.Fprintf(w, "  owner %s, then %s\n", nodeName(ip.Order[0].Node), orderText(ip.Order[1:]))
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, f := range ip.Failures {
			to := strings.ReplaceAll(nodeName(f.Owner), "+", " and ")
			if f.Owner == "" {
				to = "nobody"
			}
			mark := "stays on"
			if f.Moves {
				mark = "moves to"
			}
			fmt.Fprintf(tw, "  if %s\t%s %s\t(%s)\n", f.Event, mark, to, f.Why)
		}
		tw.Flush()
	}
	if len(p.Rollout) > 0 {
		fmt.Fprintf(w, "\nrollout from the previous policy, node by node:\n")
		for _, r := range p.Rollout {
			verdict := "safe"
			if !r.Safe {
				verdict = "UNSAFE"
			}
			fmt.Fprintf(w, "  %s: %s -> %s: %s (%s)\n", r.Instance, r.From, r.To, verdict, r.Why)
		}
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintln(w)
		for _, x := range p.Warnings {
			fmt.Fprintf(w, "warning: %s\n", x)
		}
	}
}

func nodeName(n string) string {
	if n == "" {
		return "this node"
	}
	return n
}

func orderText(o []NodePrio) string {
	if len(o) == 0 {
		return "no backup"
	}
	parts := make([]string, len(o))
	for i, np := range o {
		parts[i] = fmt.Sprintf("%s (%d)", nodeName(np.Node), np.Priority)
	}
	return strings.Join(parts, ", ")
}
