package kaimport

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Convert reads each node's keepalived configuration and returns the
// policy. With one Node whose Name is "", the policy is a per-node file in
// keepalived's shape; otherwise a site with one node block per Node.
func Convert(nodes []Node) ([]byte, []Warning, error) {
	c := &converter{}
	var confs []*nodeConf
	seen := map[string]string{}
	for _, n := range nodes {
		abs, _ := filepath.Abs(n.Path)
		if prev, dup := seen[abs]; dup {
			return nil, nil, fmt.Errorf("%s is given for node %q and node %q: each node needs its own configuration", n.Path, prev, n.Name)
		}
		seen[abs] = n.Name
		nc, err := c.read(n)
		if err != nil {
			return nil, nil, err
		}
		confs = append(confs, nc)
	}
	if len(confs) == 0 {
		return nil, nil, fmt.Errorf("no keepalived configuration given")
	}
	site := len(confs) > 1 || confs[0].name != ""
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	first := confs[0]

	mail := c.emitSite(body, first, site)
	if site {
		c.emitNodes(body, confs)
	}
	usedScripts := c.emitInstances(body, confs, site, mail)
	c.emitSyncGroups(body, confs, mail)
	c.emitChecks(body, confs, usedScripts)
	c.emitStatics(body, confs, site)
	c.emitTail(body, first, mail)
	return append(bytes.TrimRight(hclwrite.Format(f.Bytes()), "\n"), '\n'), c.warnings, nil
}

// Node is one keepalived configuration and the node it belongs to ("" for
// a per-node policy).
type Node struct {
	Name string
	Path string
}

// Warning is something of the configuration that Vigil does differently
// or not at all, with where it was.
type Warning struct {
	At  string
	Msg string
}

func (w Warning) String() string { return w.At + ": " + w.Msg }

// weightedCheck writes the head of a check block whose weight is always
// set (track_file, track_process) and returns its config block.
func weightedCheck(body *hclwrite.Body, sc *script, plugin string) *hclwrite.Body {
	blk := body.AppendNewBlock("check", []string{sc.name}).Body()
	body.AppendNewline()
	blk.SetAttributeValue("plugin", cty.StringVal(plugin))
	if len(sc.nodes) > 0 {
		blk.SetAttributeValue("nodes", strList(sc.nodes))
	}
	blk.SetAttributeValue("weight", cty.NumberIntVal(int64(*sc.weight)))
	if sc.reverse {
		blk.SetAttributeValue("reverse", cty.True)
	}
	blk.AppendNewline()
	return blk.AppendNewBlock("config", nil).Body()
}

// processBlock writes a vrrp_track_process as the process check.
func (c *converter) processBlock(body *hclwrite.Body, sc *script) {
	cfg := weightedCheck(body, sc, "process")
	for _, k := range []string{"process", "param_match", "full_command", "quorum", "quorum_max", "fork_delay", "terminate_delay", "delay"} {
		switch v := sc.process[k].(type) {
		case []string:
			cfg.SetAttributeValue(k, strList(v))
		case string:
			cfg.SetAttributeValue(k, cty.StringVal(v))
		case bool:
			cfg.SetAttributeValue(k, cty.BoolVal(v))
		case int:
			cfg.SetAttributeValue(k, cty.NumberIntVal(int64(v)))
		}
	}
}

type script struct {
	name, command string
	// file is set for a track_file (the file-weight check): the file, and
	// init_file's value, if any.
	file          string
	init          *int
	initOverwrite bool
	nodes         []string // the check runs on these nodes only (set when emitted)

	interval, timeout  string
	weight, rise, fall *int
	reverse            bool // keepalived's weight ... reverse
	initFail           bool // starts failing
	// process is set for a vrrp_track_process (the process check): its
	// settings, as the check's config.
	process     map[string]any
	user, group string
	at          string
}

type vip struct{ addr, dev, label, scope string }

// weighting is a weight as an instance's track block gives it: keepalived's
// "NAME weight W [reverse|noreverse]".
type weighting struct {
	w       int
	reverse bool
	// inherit: neither reverse nor noreverse was written, so a
	// track_script takes its script's (keepalived's default).
	inherit bool
}

// valued is wt for a valued check (track_file): the file's number times
// the weight, negated when reversed, so a reversed weight is the negated
// weight, except 0, whose reverse faults on 0 instead of on the others.
func (wt weighting) valued() weighting {
	if wt.reverse && wt.w != 0 {
		return weighting{w: -wt.w}
	}
	return wt
}

// of is wt as it applies to sc: the script's reverse unless wt says.
func (wt weighting) of(sc *script) weighting {
	if wt.inherit && sc != nil {
		wt.reverse = sc.reverse
	}
	wt.inherit = false
	return wt
}

// trackWeighting reads t's "weight W [reverse|noreverse]"; ok is false
// when t gives no weight.
func (c *converter) trackWeighting(t *Stmt) (wt weighting, ok bool) {
	if t.Arg(0) != "weight" {
		return weighting{}, false
	}
	wt = weighting{w: atoi(t, c, t.Arg(1))}
	switch t.Arg(2) {
	case "reverse":
		wt.reverse = true
	case "noreverse":
	default:
		wt.inherit = true
	}
	return wt, true
}

type instance struct {
	name, iface, advert, preemptDelay  string
	vrid, prio, version                int
	nopreempt, initMaster              bool
	smtpAlert                          *bool // unset: the global default
	notifyPrio                         *bool // notify_priority_changes; unset: the group's, else the global one
	accept, strict                     *bool // accept / no_accept, strict_mode
	useVMAC, vmacXmitBase              bool
	vmacName                           string
	authType, authPass, authAt, ahAt   string
	hmac                               *hmacConf // auth_hmac
	vips, excluded                     []vip
	tracks, trackIfs                   []string
	trackWeights                       map[string]weighting // track_script overrides
	trackAt                            map[string]string
	trackIfWeights                     map[string]weighting
	srcAddr                            string
	unicastPeers                       []string
	peersAt                            string
	minTTL, maxTTL                     []int     // each peer's min_ttl / max_ttl (0-255, keepalived's defaults)
	routes, rules                      []routing // virtual_routes, virtual_rules
	garpDelay, garpRepeat, garpRefresh string
	dontTrackPrimary                   bool
	notify                             map[string]notifyScript // per keepalived keyword
	at                                 string
}

type nodeConf struct {
	name      string
	routerID  string
	global    map[string][]string
	globalAt  map[string]string // where each global_defs keyword was
	emails    []string
	scripts   map[string]*script
	instances []*instance
	groups    map[string][]string
	groupMail map[string]bool // sync groups' own smtp_alert
	alerts    map[string]bool // global smtp_alert and smtp_alert_vrrp, when set
	// prioNotes holds notify_priority_changes where set: each sync group's
	// by name, the global vrrp_notify_priority_changes under "".
	prioNotes map[string]bool
	// groupNotify holds each sync group's notify scripts per keepalived
	// keyword, groupAt where each group was defined.
	groupNotify map[string]map[string]notifyScript
	groupAt     map[string]string
	order       []string // groups in file order
	// static holds static_ipaddress, static_routes and static_rules;
	// defaultIf is global_defs' default_interface, the interface of a
	// static address without dev.
	static    staticConf
	defaultIf string
}

type staticConf struct {
	addrs         []vip
	routes, rules []routing
	at            string // the first static block
}

// alert is whether an instance or sync group whose own smtp_alert is own
// (nil: none) sends mail: its own, else the global smtp_alert_vrrp, else
// the global smtp_alert, else not, as keepalived decides.
func (nc *nodeConf) alert(own *bool) bool {
	if own != nil {
		return *own
	}
	if v, ok := nc.alerts["smtp_alert_vrrp"]; ok {
		return v
	}
	return nc.alerts["smtp_alert"]
}

// priorityNotes is whether an instance tells of its priority changes:
// its own notify_priority_changes, else its sync group's, else the global
// one, else not, as keepalived decides.
func (nc *nodeConf) priorityNotes(in *instance) bool {
	if in.notifyPrio != nil {
		return *in.notifyPrio
	}
	for g, members := range nc.groups {
		if v, ok := nc.prioNotes[g]; ok && slices.Contains(members, in.name) {
			return v
		}
	}
	return nc.prioNotes[""]
}

// groupAlert is alert for a sync group.
func (nc *nodeConf) groupAlert(name string) bool {
	if v, ok := nc.groupMail[name]; ok {
		return nc.alert(&v)
	}
	return nc.alert(nil)
}

// notifyScripts are an instance's or a sync group's notify scripts, per
// keepalived keyword, and the notifier they become.
type notifyScripts struct {
	notifier, at string
	scripts      map[string]notifyScript
	nodes        []string // the nodes that run these scripts; nil: every node
}

// notifyScript is a notify script and who keepalived runs it as: the
// words after the (quoted) script are a user and a group.
type notifyScript struct {
	command string
	as      runAs // zero: the global script user
	at      string
}

// notifyScript reads a notify_* line.
func (c *converter) notifyScript(s *Stmt) notifyScript {
	n := notifyScript{command: s.Arg(0), at: s.String()}
	if len(s.Args) > 1 {
		n.as = runAs{user: s.Arg(1), group: s.Arg(2)}
	}
	if len(s.Args) > 3 {
		c.warn(s, "%s: keepalived takes the script, a user and a group; the words after %q are ignored, as keepalived ignores them", s.Key, s.Arg(2))
	}
	return n
}

type converter struct {
	warnings        []Warning
	siteMail        bool            // every instance mails: the site's notify says so
	needsRootAction bool            // an nginx-action was written: it starts nginx as root
	scriptSecurity  bool            // enable_script_security: scripts run as root must be root's alone
	execScripts     []*script       // scripts written as exec checks
	notifyScripts   []notifyScripts // instances and sync groups whose notify scripts became an exec-notify notifier
}

func (c *converter) warn(s *Stmt, format string, args ...any) {
	c.warnAt(s.String(), format, args...)
}

// warnAt warns of what is at a "file:line".
func (c *converter) warnAt(at, format string, args ...any) {
	c.warnings = append(c.warnings, Warning{At: at, Msg: fmt.Sprintf(format, args...)})
}

func atoi(s *Stmt, c *converter, v string) int {
	n, err := strconv.Atoi(v)
	if err != nil {
		c.warn(s, "%s %q is not a number", s.Key, v)
	}
	return n
}

// seconds turns keepalived's seconds ("1", "0.1") into a duration string.
func seconds(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v + "s"
	}
	if f == float64(int(f)) {
		return fmt.Sprintf("%ds", int(f))
	}
	return fmt.Sprintf("%dms", int(f*1000+0.5))
}

// conditional resolves keepalived's "@id keyword ..." lines, which apply
// only on the node whose config id is id ("@^id": everywhere else), for
// the node id; without a node name they cannot be resolved and are left
// out with a warning.
func (c *converter) conditional(stmts []*Stmt, id string) []*Stmt {
	var out []*Stmt
	for _, s := range stmts {
		if strings.HasPrefix(s.Key, "@") && len(s.Key) > 1 {
			want, negate := s.Key[1:], false
			if strings.HasPrefix(want, "^") {
				want, negate = want[1:], true
			}
			if id == "" {
				c.warn(s, "%s applies only on node %q: not imported in a per-node file (import with --node NAME=FILE to resolve it)", s.Key, want)
				continue
			}
			if (want == id) == negate || len(s.Args) == 0 {
				continue
			}
			s = &Stmt{Key: s.Args[0], Args: s.Args[1:], Block: s.Block, File: s.File, Line: s.Line}
		}
		s.Block = c.conditional(s.Block, id)
		out = append(out, s)
	}
	return out
}

func (c *converter) read(n Node) (*nodeConf, error) {
	stmts, err := Parse(n.Path)
	if err != nil {
		return nil, err
	}
	stmts = c.conditional(stmts, n.Name)
	nc := &nodeConf{name: n.Name, global: map[string][]string{}, globalAt: map[string]string{}, scripts: map[string]*script{},
		groups: map[string][]string{}, groupMail: map[string]bool{}, prioNotes: map[string]bool{}, groupNotify: map[string]map[string]notifyScript{}, groupAt: map[string]string{},
		alerts: map[string]bool{}}
	var groupTracks []*Stmt // sync groups' track_script and track_interface, for their members
	for _, s := range stmts {
		switch s.Key {
		case "global_defs":
			c.readGlobal(nc, s)
		case "vrrp_script":
			c.readScript(nc, s)
		case "track_file", "vrrp_track_file":
			c.readTrackFile(nc, s)
		case "vrrp_track_process":
			c.readTrackProcess(nc, s)
		case "vrrp_instance":
			nc.instances = append(nc.instances, c.instance(s))
		case "vrrp_sync_group":
			groupTracks = append(groupTracks, c.readSyncGroup(nc, s)...)
		case "static_ipaddress", "static_routes", "static_rules":
			c.readStatic(nc, s)
		case "virtual_server", "virtual_server_group":
			c.warn(s, "%s (LVS) is not imported: Vigil does VRRP only", s.Key)
		default:
			c.warn(s, "%s is not imported", s.Key)
		}
	}
	c.groupTracks(nc, groupTracks)
	for _, in := range nc.instances {
		c.complete(nc, in)
	}
	return nc, nil
}

// peerTTL reads a unicast_peer line's min_ttl / max_ttl.
func (c *converter) peerTTL(in *instance, p *Stmt) {
	lo, hi := 0, 255
	for i := 0; i+1 < len(p.Args); i += 2 {
		switch p.Arg(i) {
		case "min_ttl":
			lo = atoi(p, c, p.Arg(i+1))
		case "max_ttl":
			hi = atoi(p, c, p.Arg(i+1))
		default:
			c.warn(p, "unicast_peer %s option %s is not imported", p.Key, p.Arg(i))
		}
	}
	in.minTTL, in.maxTTL = append(in.minTTL, lo), append(in.maxTTL, hi)
}

// readGlobal reads global_defs.
func (c *converter) readGlobal(nc *nodeConf, s *Stmt) {
	for _, g := range s.Block {
		switch g.Key {
		case "router_id":
			nc.routerID = g.Arg(0)
		case "notification_email":
			nc.globalAt[g.Key] = g.String()
			for _, e := range g.Block {
				nc.emails = append(nc.emails, e.Key)
			}
		case "vrrp_version", "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh", "vrrp_garp_interval",
			"vrrp_gna_interval", "vrrp_startup_delay", "notification_email_from", "smtp_server", "smtp_connect_timeout", "script_user",
			"notify_fifo", "vrrp_notify_fifo", "vrrp_mcast_group4", "vrrp_mcast_group6":
			nc.global[g.Key] = g.Args
			nc.globalAt[g.Key] = g.String()
		case "default_interface":
			nc.defaultIf = g.Arg(0)
			c.warn(g, "global_defs default_interface is imported only as the interface of static addresses without dev; instances name their interface")
		case "smtp_alert", "smtp_alert_vrrp":
			if v, ok := c.onOff(g); ok {
				nc.alerts[g.Key] = v
				nc.globalAt[g.Key] = g.String()
			}
		case "vrrp_notify_priority_changes":
			if v, ok := c.onOff(g); ok {
				nc.prioNotes[""] = v
			}
		case "vrrp_skip_check_adv_addr", "enable_script_security", "vrrp_strict", "max_auto_priority":
			nc.global[g.Key] = []string{"on"}
			nc.globalAt[g.Key] = g.String()
			c.scriptSecurity = c.scriptSecurity || g.Key == "enable_script_security"
			if g.Key == "max_auto_priority" {
				c.warn(g, "max_auto_priority is not imported: Vigil does not raise its scheduling priority; its takeover timing does not depend on it (docs/benchmarks.md)")
			}
		default:
			c.warn(g, "global_defs %s is not imported (no Vigil equivalent)", g.Key)
		}
	}
}

// onOff reads a keyword that is on alone or with true/on/yes, off with
// false/off/no, as keepalived does; another word is refused there, and
// the line ignored (ok false).
func (c *converter) onOff(s *Stmt) (on, ok bool) {
	switch s.Arg(0) {
	case "", "true", "on", "yes":
		return true, true
	case "false", "off", "no":
		return false, true
	}
	c.warn(s, "%s %s: keepalived refuses the value and ignores the line; not imported either", s.Key, s.Arg(0))
	return false, false
}

// readStatic reads static_ipaddress, static_routes or static_rules: what
// keepalived adds at start and removes at stop, whatever its instances do.
func (c *converter) readStatic(nc *nodeConf, s *Stmt) {
	if nc.static.at == "" {
		nc.static.at = s.String()
	}
	switch s.Key {
	case "static_ipaddress":
		nc.static.addrs = append(nc.static.addrs, c.readVIPs(s.Block)...)
	case "static_routes":
		for _, l := range s.Block {
			if r, ok := c.readRoute(l); ok {
				nc.static.routes = append(nc.static.routes, r)
			}
		}
	case "static_rules":
		for _, l := range s.Block {
			if r, ok := c.readRule(l); ok {
				nc.static.rules = append(nc.static.rules, r)
			}
		}
	}
}

// readScript reads a vrrp_script.
func (c *converter) readScript(nc *nodeConf, s *Stmt) {
	sc := &script{name: s.Arg(0), at: s.String()}
	for _, o := range s.Block {
		switch o.Key {
		case "script":
			sc.command = strings.Join(o.Args, " ")
		case "interval":
			sc.interval = seconds(o.Arg(0))
		case "timeout":
			sc.timeout = seconds(o.Arg(0))
		case "weight":
			v := atoi(o, c, o.Arg(0))
			sc.weight = &v
			sc.reverse = o.Arg(1) == "reverse"
		case "rise":
			v := atoi(o, c, o.Arg(0))
			sc.rise = &v
		case "fall":
			v := atoi(o, c, o.Arg(0))
			sc.fall = &v
		case "user":
			sc.user, sc.group = o.Arg(0), o.Arg(1)
		case "init_fail":
			sc.initFail = true
		default:
			c.warn(o, "vrrp_script %s is not imported", o.Key)
		}
	}
	if sc.command == "" {
		c.warn(s, "vrrp_script %s is refused: it has no script line this node uses, and a check without a command would always pass", sc.name)
		return
	}
	nc.scripts[sc.name] = sc
}

// readTrackFile reads a track_file (vrrp_track_file).
func (c *converter) readTrackFile(nc *nodeConf, s *Stmt) {
	sc := &script{name: s.Arg(0), at: s.String()}
	one := 1 // keepalived's default weight
	sc.weight = &one
	for _, o := range s.Block {
		switch o.Key {
		case "file":
			sc.file = o.Arg(0)
		case "weight":
			wt := weighting{w: atoi(o, c, o.Arg(0)), reverse: o.Arg(1) == "reverse"}.valued()
			sc.weight, sc.reverse = &wt.w, wt.reverse
		case "init_file":
			v := 0
			if len(o.Args) > 0 && o.Arg(0) != "overwrite" {
				v = atoi(o, c, o.Arg(0))
			}
			sc.init = &v
			sc.initOverwrite = slices.Contains(o.Args, "overwrite")
		default:
			c.warn(o, "track_file %s is not imported", o.Key)
		}
	}
	if sc.file == "" {
		c.warn(s, "track_file %s is refused: it names no file", sc.name)
		return
	}
	c.addTracked(nc, s, sc, "track_file")
}

// readTrackProcess reads a vrrp_track_process as the process check.
func (c *converter) readTrackProcess(nc *nodeConf, s *Stmt) {
	zero := 0 // keepalived's default weight: a lost quorum is FAULT
	sc := &script{name: s.Arg(0), at: s.String(), weight: &zero, process: map[string]any{}}
	for _, o := range s.Block {
		switch o.Key {
		case "process":
			sc.process["process"] = o.Args
		case "param_match":
			if m := o.Arg(0); m == "" {
				sc.process["param_match"] = "exact"
			} else {
				sc.process["param_match"] = m
			}
		case "full_command":
			sc.process["full_command"] = true
		case "quorum", "quorum_max":
			sc.process[o.Key] = atoi(o, c, o.Arg(0))
		case "fork_delay", "terminate_delay", "delay":
			sc.process[o.Key] = seconds(o.Arg(0))
		case "weight":
			v := atoi(o, c, o.Arg(0))
			sc.weight, sc.reverse = &v, o.Arg(1) == "reverse"
		default:
			c.warn(o, "vrrp_track_process %s is not imported", o.Key)
		}
	}
	if _, ok := sc.process["process"]; !ok {
		c.warn(s, "vrrp_track_process %s is refused: it names no process", sc.name)
		return
	}
	c.addTracked(nc, s, sc, "vrrp_track_process")
}

// addTracked adds a track_file or track_process to the node's checks,
// unless another tracker has its name (keepalived keeps one namespace per
// kind; Vigil's checks share one).
func (c *converter) addTracked(nc *nodeConf, s *Stmt, sc *script, kind string) {
	if _, dup := nc.scripts[sc.name]; dup {
		c.warn(s, "%s %s is refused: a vrrp_script or another tracker has that name, and Vigil's checks share one namespace", kind, sc.name)
		return
	}
	nc.scripts[sc.name] = sc
}

// readSyncGroup reads a vrrp_sync_group and returns its track_script,
// track_file and track_interface, for its members.
func (c *converter) readSyncGroup(nc *nodeConf, s *Stmt) (tracks []*Stmt) {
	name := s.Arg(0)
	nc.groupAt[name] = s.String()
	for _, o := range s.Block {
		switch o.Key {
		case "group":
			for _, m := range o.Block {
				nc.groups[name] = append(nc.groups[name], append([]string{m.Key}, m.Args...)...)
			}
		case "smtp_alert":
			if v, ok := c.onOff(o); ok {
				nc.groupMail[name] = v
			}
		case "notify_priority_changes":
			if v, ok := c.onOff(o); ok {
				nc.prioNotes[name] = v
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			if nc.groupNotify[name] == nil {
				nc.groupNotify[name] = map[string]notifyScript{}
			}
			nc.groupNotify[name][o.Key] = c.notifyScript(o)
		case "track_interface", "track_script", "track_file", "track_process":
			tracks = append(tracks, &Stmt{Key: o.Key, Args: []string{name}, Block: o.Block, File: o.File, Line: o.Line})
		case "global_tracking", "sync_group_tracking_weight", "track_bfd":
			c.warn(o, "vrrp_sync_group %s is not imported", o.Key)
		default:
			// keepalived takes members only inside group { }: it refuses
			// this line ("Unknown keyword") and, with no member left,
			// removes the group.
			c.warn(o, "vrrp_sync_group %s: keepalived refuses members outside group { } (\"Unknown keyword\") and ignores the line; not imported either (write them in group { })", name)
		}
	}
	if len(nc.groups[name]) == 0 {
		c.warn(s, "vrrp_sync_group %s has no members: not imported (keepalived removes it too)", name)
		return nil
	}
	nc.order = append(nc.order, name)
	return tracks
}

// groupTracks gives a sync group's tracked scripts and interfaces to each
// of its members, as keepalived does: in a sync group they fault the whole
// group whatever their weight (keepalived's sync_group_tracking_weight off).
func (c *converter) groupTracks(nc *nodeConf, tracks []*Stmt) {
	for _, t := range tracks {
		group := t.Args[0]
		for _, in := range nc.instances {
			if !slices.Contains(nc.groups[group], in.name) {
				continue
			}
			for _, e := range t.Block {
				if e.Arg(0) == "weight" && e.Arg(1) != "0" {
					c.warn(e, "%s weight in vrrp_sync_group %s is not used: a failure puts the group in FAULT, as keepalived does without sync_group_tracking_weight", e.Key, group)
				}
				switch t.Key {
				case "track_script", "track_file", "track_process":
					if !slices.Contains(in.tracks, e.Key) {
						in.tracks = append(in.tracks, e.Key)
						in.trackAt[e.Key] = e.String()
					}
				case "track_interface":
					if !slices.Contains(in.trackIfs, e.Key) {
						in.trackIfs = append(in.trackIfs, e.Key)
					}
				}
			}
		}
	}
}

// readVIPs reads a virtual_ipaddress block (or _excluded).
func (c *converter) readVIPs(b []*Stmt) []vip {
	var out []vip
	for _, v := range b {
		x := vip{addr: v.Key}
		for i := 0; i < len(v.Args); i++ {
			opt, val := v.Args[i], ""
			switch opt {
			case "no_track":
				c.warn(v, "virtual_ipaddress %s no_track: not imported; Vigil does not watch the interfaces of an instance's addresses (only track_interface), so nothing changes", v.Key)
				continue
			case "dev", "label", "scope", "brd", "broadcast", "metric", "preferred_lft", "track_group":
				if i+1 < len(v.Args) {
					val = v.Args[i+1]
					i++
				}
			}
			switch opt {
			case "dev":
				x.dev = val
			case "label":
				x.label = val
			case "scope":
				x.scope = val
			case "brd", "broadcast":
				c.warn(v, "virtual_ipaddress %s brd %s is not imported: Vigil adds addresses without a broadcast address", v.Key, val)
			default:
				c.warn(v, "virtual_ipaddress %s option %s is not imported", v.Key, opt)
			}
		}
		if !strings.Contains(x.addr, "/") {
			if strings.Contains(x.addr, ":") {
				x.addr += "/128"
			} else {
				x.addr += "/32" // keepalived's default for an address without a prefix
			}
		}
		out = append(out, x)
	}
	return out
}

func (c *converter) instance(s *Stmt) *instance {
	in := &instance{name: s.Arg(0), prio: 100, at: s.String(), trackIfWeights: map[string]weighting{}, trackWeights: map[string]weighting{}, trackAt: map[string]string{},
		notify: map[string]notifyScript{}}
	for _, o := range s.Block {
		switch o.Key {
		case "state":
			if o.Arg(0) == "MASTER" {
				in.initMaster = true
				c.warn(o, "state MASTER is not imported: every instance starts as BACKUP (RFC 5798); priorities decide who is master")
			}
		case "interface":
			in.iface = o.Arg(0)
		case "virtual_router_id":
			in.vrid = atoi(o, c, o.Arg(0))
		case "priority":
			in.prio = atoi(o, c, o.Arg(0))
		case "advert_int":
			in.advert = seconds(o.Arg(0))
		case "version":
			in.version = atoi(o, c, o.Arg(0))
		case "nopreempt":
			in.nopreempt = true
		case "preempt": // keepalived's: undoes an earlier nopreempt
			in.nopreempt = false
		case "accept", "no_accept":
			v := o.Key == "accept"
			in.accept = &v
		case "use_vmac":
			in.useVMAC = true
			for _, a := range o.Args {
				if _, err := net.ParseMAC(a); err == nil || strings.Count(a, ":") == 4 {
					c.warn(o, "use_vmac's MAC address %s is not imported: Vigil uses the RFC's virtual MAC, 00:00:5e:00:01:VRID (02 for IPv6)", a)
					continue
				}
				in.vmacName = a
			}
		case "vmac_xmit_base":
			in.vmacXmitBase = true
		case "strict_mode":
			v := o.Arg(0) == "" || slices.Contains([]string{"on", "true", "yes"}, strings.ToLower(o.Arg(0)))
			in.strict = &v
		case "preempt_delay":
			in.preemptDelay = seconds(o.Arg(0))
		case "virtual_ipaddress":
			in.vips = c.readVIPs(o.Block)
		case "virtual_ipaddress_excluded":
			in.excluded = c.readVIPs(o.Block)
		case "unicast_src_ip", "mcast_src_ip": // one setting in keepalived: the last counts
			in.srcAddr = o.Arg(0)
		case "unicast_peer":
			in.peersAt = o.String()
			for _, p := range o.Block {
				in.unicastPeers = append(in.unicastPeers, p.Key)
				c.peerTTL(in, p)
			}
		case "smtp_alert":
			if v, ok := c.onOff(o); ok {
				in.smtpAlert = &v
			}
		case "notify_priority_changes":
			if v, ok := c.onOff(o); ok {
				in.notifyPrio = &v
			}
		case "garp_master_delay":
			in.garpDelay = seconds(o.Arg(0))
		case "garp_master_repeat":
			in.garpRepeat = o.Arg(0)
		case "garp_master_refresh":
			in.garpRefresh = seconds(o.Arg(0))
		case "dont_track_primary":
			in.dontTrackPrimary = true
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			in.notify[o.Key] = c.notifyScript(o)
		default:
			if !c.instanceBlock(in, o) {
				c.warn(o, "vrrp_instance %s is not imported", o.Key)
			}
		}
	}
	return in
}

// instanceBlock reads the blocks of a vrrp_instance: authentication,
// tracking, routes and rules; false for another keyword.
func (c *converter) instanceBlock(in *instance, o *Stmt) bool {
	switch o.Key {
	case "authentication":
		in.authAt = o.String()
		for _, a := range o.Block {
			switch a.Key {
			case "auth_type":
				in.authType, in.ahAt = strings.ToLower(a.Arg(0)), a.String()
			case "auth_pass":
				in.authPass = a.Arg(0)
			}
		}
	case "auth_hmac":
		c.authHMAC(in, o)
	case "track_script", "track_process": // a process's reverse is inherited as a script's
		for _, t := range o.Block {
			in.tracks = append(in.tracks, t.Key)
			in.trackAt[t.Key] = t.String()
			if wt, ok := c.trackWeighting(t); ok {
				in.trackWeights[t.Key] = wt
			}
		}
	case "track_file":
		// A file's weight is a multiplier: the instance's own weight
		// overrides it, as for track_script.
		for _, t := range o.Block {
			in.tracks = append(in.tracks, t.Key)
			in.trackAt[t.Key] = t.String()
			if wt, ok := c.trackWeighting(t); ok {
				in.trackWeights[t.Key] = wt.of(nil).valued()
			}
		}
	case "track_interface":
		for _, t := range o.Block {
			in.trackIfs = append(in.trackIfs, t.Key)
			if wt, ok := c.trackWeighting(t); ok {
				in.trackIfWeights[t.Key] = wt.of(nil)
			}
		}
	case "virtual_routes":
		for _, l := range o.Block {
			if r, ok := c.readRoute(l); ok {
				in.routes = append(in.routes, r)
			}
		}
	case "virtual_rules":
		for _, l := range o.Block {
			if r, ok := c.readRule(l); ok {
				in.rules = append(in.rules, r)
			}
		}
	default:
		return false
	}
	return true
}

var (
	nginxScript = regexp.MustCompile(`nginx: master process|pidof nginx|killall -0 nginx|pgrep[^|;]*nginx`)
	// The seed's pattern: start nginx, wait, stop keepalived if it is
	// still down. That is restart-or-yield, Vigil's nginx-action.
	stopsKeepalived = regexp.MustCompile(`killall\s+keepalived|systemctl\s+stop\s+keepalived|service\s+keepalived\s+stop`)
	nginxBinary     = regexp.MustCompile(`(?m)^\s*(/\S*/nginx)\s*$`)
	sleepFor        = regexp.MustCompile(`\bsleep\s+(\d+)`)
)

// checkBlock writes a vrrp_script as a check: scripts that look for
// nginx's master process become the nginx-process check (and, when they
// restart nginx and stop keepalived if that fails, an nginx-action);
// others run unchanged through the exec check.
func (c *converter) checkBlock(body *hclwrite.Body, sc *script) {
	if sc.process != nil {
		c.processBlock(body, sc)
		return
	}
	if sc.file != "" {
		cfg := weightedCheck(body, sc, "file-weight")
		cfg.SetAttributeValue("file", cty.StringVal(sc.file))
		if sc.init != nil {
			cfg.SetAttributeValue("init", cty.NumberIntVal(int64(*sc.init)))
			if sc.initOverwrite {
				cfg.SetAttributeValue("init_overwrite", cty.True)
			}
		}
		return
	}
	text := sc.command
	if f := strings.Fields(sc.command); len(f) > 0 {
		if b, err := readRegular(f[0], 64<<10); err == nil {
			text += "\n" + string(b)
		}
	}
	nginx := nginxScript.MatchString(text)
	blk := body.AppendNewBlock("check", []string{sc.name}).Body()
	body.AppendNewline()
	if nginx {
		blk.SetAttributeValue("plugin", cty.StringVal("nginx-process"))
	} else {
		blk.SetAttributeValue("plugin", cty.StringVal("exec"))
	}
	if len(sc.nodes) > 0 {
		blk.SetAttributeValue("nodes", strList(sc.nodes))
	}
	interval := sc.interval
	if interval == "" {
		interval = "1s" // keepalived's default
	}
	blk.SetAttributeValue("interval", cty.StringVal(interval))
	if sc.timeout != "" {
		blk.SetAttributeValue("timeout", cty.StringVal(sc.timeout))
	}
	if sc.weight != nil {
		blk.SetAttributeValue("weight", cty.NumberIntVal(int64(*sc.weight)))
	}
	if sc.reverse {
		blk.SetAttributeValue("reverse", cty.True)
	}
	if sc.initFail {
		blk.SetAttributeValue("init_fail", cty.True)
	}
	if sc.rise != nil {
		blk.SetAttributeValue("rise", cty.NumberIntVal(int64(*sc.rise)))
	}
	if sc.fall != nil {
		blk.SetAttributeValue("fall", cty.NumberIntVal(int64(*sc.fall)))
	}
	if !nginx {
		c.execScripts = append(c.execScripts, sc)
		blk.AppendNewline()
		cfg := blk.AppendNewBlock("config", nil).Body()
		cfg.SetAttributeValue("command", cty.ListVal([]cty.Value{cty.StringVal("/bin/sh"), cty.StringVal("-c"), cty.StringVal(sc.command)}))
		if c.scriptSecurity {
			cfg.SetAttributeValue("script_security", cty.True)
		}
		return
	}
	msg := fmt.Sprintf("vrrp_script %s looks for nginx's master process: imported as the nginx-process check, which sees nginx exit at once instead of every %s", sc.name, interval)
	if stopsKeepalived.MatchString(text) {
		ab := body.AppendNewBlock("action", []string{sc.name + "-recover"}).Body()
		body.AppendNewline()
		ab.SetAttributeValue("plugin", cty.StringVal("nginx-action"))
		ab.SetAttributeValue("when", cty.StringVal(sc.name))
		ab.AppendNewline()
		cfg := ab.AppendNewBlock("config", nil).Body()
		if m := nginxBinary.FindStringSubmatch(text); m != nil {
			cfg.SetAttributeValue("start", cty.ListVal([]cty.Value{cty.StringVal(m[1])}))
		}
		if m := sleepFor.FindStringSubmatch(text); m != nil {
			cfg.SetAttributeValue("wait", cty.StringVal(m[1]+"s"))
		}
		c.needsRootAction = true
		msg += "; the script restarts nginx and stops keepalived when that fails: imported as the nginx-action restart-or-yield, which gives up this node's addresses without stopping the daemon"
	}
	c.warnings = append(c.warnings, Warning{At: sc.at, Msg: msg})
}
