package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/core/transport"
	"github.com/vigil-ha/vigil/core/vip"
	"github.com/vigil-ha/vigil/core/vrrp"
	"github.com/vigil-ha/vigil/test/logbuf"
)

// The fakes stand for the kernel: a wire that records what instances send
// and lets a test inject adverts, an address table, an announcer that
// counts, and links a test turns up and down.

type fakeWire struct {
	mu       sync.Mutex
	src      netip.Addr
	handlers map[string]transport.Handler // ifname/vrid
	sent     map[uint8][]uint8            // vrid -> priorities sent
	trailers map[uint8][]vrrp.Trailer     // vrid -> trailers of signed adverts sent
	dsts     map[netip.Addr]int           // adverts sent to each destination
	joined   []netip.Addr                 // groups channels joined
	open     int
	// openDelay, when set, is how long opening each VRID's channel takes
	// (a start-up that opens many sockets and reads many addresses).
	openDelay map[uint8]time.Duration
}

func newFakeWire(src string) *fakeWire {
	return &fakeWire{src: netip.MustParseAddr(src), handlers: map[string]transport.Handler{}, sent: map[uint8][]uint8{}, trailers: map[uint8][]vrrp.Trailer{}, dsts: map[netip.Addr]int{}}
}

type fakeChannel struct {
	w    *fakeWire
	key  string
	vrid uint8
}

func (w *fakeWire) Open(ifname string, v6 bool, src netip.Addr, vrid uint8, h transport.Handler) (Channel, error) {
	w.mu.Lock()
	d := w.openDelay[vrid]
	w.mu.Unlock()
	time.Sleep(d)
	w.mu.Lock()
	defer w.mu.Unlock()
	k := fmt.Sprintf("%s/%d", ifname, vrid)
	if _, dup := w.handlers[k]; dup {
		return nil, fmt.Errorf("VRID %d is already in use on %s", vrid, ifname)
	}
	w.handlers[k] = h
	w.open++
	return &fakeChannel{w: w, key: k, vrid: vrid}, nil
}

func (c *fakeChannel) Send(msg []byte, dst netip.Addr) error {
	var a vrrp.Advert
	if err := a.Unmarshal(msg, c.w.src, dst); err != nil {
		return err
	}
	c.w.mu.Lock()
	c.w.sent[c.vrid] = append(c.w.sent[c.vrid], a.Priority)
	if a.Signed {
		c.w.trailers[c.vrid] = append(c.w.trailers[c.vrid], a.Trailer)
	}
	c.w.dsts[dst]++
	c.w.mu.Unlock()
	return nil
}
func (c *fakeChannel) Source() netip.Addr { return c.w.src }
func (c *fakeChannel) Join(g netip.Addr) error {
	c.w.mu.Lock()
	c.w.joined = append(c.w.joined, g)
	c.w.mu.Unlock()
	return nil
}
func (c *fakeChannel) Close() {
	c.w.mu.Lock()
	delete(c.w.handlers, c.key)
	c.w.open--
	c.w.mu.Unlock()
}

// inject delivers an advert from src as if it arrived on ifname.
func (w *fakeWire) inject(t *testing.T, ifname string, adv vrrp.Advert, src string) {
	t.Helper()
	group := vrrp.GroupV4
	if netip.MustParseAddr(src).Is6() {
		group = vrrp.GroupV6
	}
	w.injectTo(t, ifname, adv, src, group)
}

// injectTo delivers adv from src as sent to group.
func (w *fakeWire) injectTo(t *testing.T, ifname string, adv vrrp.Advert, src string, group netip.Addr) {
	t.Helper()
	from := netip.MustParseAddr(src)
	b, err := adv.AppendMarshal(nil, from, group)
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	h := w.handlers[fmt.Sprintf("%s/%d", ifname, adv.VRID)]
	w.mu.Unlock()
	if h == nil {
		t.Errorf("no instance listens for VRID %d on %s", adv.VRID, ifname)
		return
	}
	h(transport.Packet{Data: b, Src: from, Dst: group, TTL: 255, At: time.Now()})
}

// fakeAddrs is an interface address table with Linux's answers: adding an
// address that is there is EEXIST (Add reports false), removing one that
// is not is a no-op.
type fakeAddrs struct {
	mu      sync.Mutex
	on      map[string]bool
	removed []string        // every address actually removed, in order
	fail    map[string]bool // addresses whose removal fails
	failAdd map[string]bool // addresses whose addition fails
	closed  bool
	watch   func(ifname string, p netip.Prefix)
}

func newFakeAddrs(present ...string) *fakeAddrs {
	f := &fakeAddrs{on: map[string]bool{}}
	for _, p := range present {
		f.on[p] = true
	}
	return f
}

func key(a vip.Addr) string { return a.Interface + " " + a.Prefix.String() }

func (f *fakeAddrs) Prepare(string) error { return nil }
func (f *fakeAddrs) Add(a vip.Addr) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAdd[key(a)] {
		return false, errors.New("operation not permitted")
	}
	if f.on[key(a)] {
		return false, nil
	}
	f.on[key(a)] = true
	return true, nil
}
func (f *fakeAddrs) Remove(a vip.Addr) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[key(a)] {
		return false, errors.New("operation not permitted")
	}
	if !f.on[key(a)] {
		return false, nil
	}
	delete(f.on, key(a))
	f.removed = append(f.removed, key(a))
	return true, nil
}
func (f *fakeAddrs) Present(a vip.Addr) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on[key(a)], nil
}
func (f *fakeAddrs) Close() { f.closed = true }
func (f *fakeAddrs) WatchRemoved(_ <-chan struct{}, removed func(string, netip.Prefix), _ func(error)) error {
	f.mu.Lock()
	f.watch = removed
	f.mu.Unlock()
	return nil
}

// deleteByOthers removes an address as NetworkManager would, and reports
// it as the kernel does.
func (f *fakeAddrs) deleteByOthers(ifname, prefix string) {
	f.mu.Lock()
	delete(f.on, ifname+" "+prefix)
	watch := f.watch
	f.mu.Unlock()
	if watch != nil {
		watch(ifname, netip.MustParsePrefix(prefix))
	}
}
func (f *fakeAddrs) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k, on := range f.on {
		if on {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (f *fakeAddrs) has(k string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on[k]
}
func (f *fakeAddrs) add(k string) {
	f.mu.Lock()
	f.on[k] = true
	f.mu.Unlock()
}
func (f *fakeAddrs) removals() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.removed...)
}

// fakeRoutes is the kernel's routes and rules, by their ip forms.
type fakeRoutes struct {
	mu    sync.Mutex
	on    map[string]bool
	watch func()
}

func (f *fakeRoutes) WatchRemoved(_ <-chan struct{}, removed func(), _ func(error)) error {
	f.mu.Lock()
	f.watch = removed
	f.mu.Unlock()
	return nil
}

// deleteByOthers removes a route or rule as a network manager would, and
// reports it as the kernel does.
func (f *fakeRoutes) deleteByOthers(key string) {
	f.mu.Lock()
	delete(f.on, key)
	watch := f.watch
	f.mu.Unlock()
	if watch != nil {
		watch()
	}
}

func newFakeRoutes(present ...string) *fakeRoutes {
	f := &fakeRoutes{on: map[string]bool{}}
	for _, p := range present {
		f.on[p] = true
	}
	return f
}

func (f *fakeRoutes) set(key string, on bool) (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.on[key] == on {
		return false, nil
	}
	f.on[key] = on
	return true, nil
}
func (f *fakeRoutes) AddRoute(r config.Route) (bool, error)    { return f.set(routeKey(r), true) }
func (f *fakeRoutes) RemoveRoute(r config.Route) (bool, error) { return f.set(routeKey(r), false) }
func (f *fakeRoutes) AddRule(r config.Rule) (bool, error)      { return f.set(ruleKey(r), true) }
func (f *fakeRoutes) RemoveRule(r config.Rule) (bool, error)   { return f.set(ruleKey(r), false) }
func (f *fakeRoutes) has(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on[key]
}

type fakeAnnouncer struct {
	mu     sync.Mutex
	bursts int
}

func (f *fakeAnnouncer) Prepare(string, bool) error { return nil }
func (f *fakeAnnouncer) Burst([]vip.Addr, int, time.Duration, time.Duration) error {
	f.mu.Lock()
	f.bursts++
	f.mu.Unlock()
	return nil
}
func (f *fakeAnnouncer) Close() {}
func (f *fakeAnnouncer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bursts
}

type fakeLinks struct {
	mu      sync.Mutex
	down    map[string]bool
	changed func(string, bool)
}

func (f *fakeLinks) Up(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.down[name]
}
func (f *fakeLinks) Watch(_ <-chan struct{}, changed func(string, bool), _ func(error)) error {
	f.mu.Lock()
	f.changed = changed
	f.mu.Unlock()
	return nil
}
func (f *fakeLinks) set(name string, up bool) {
	f.mu.Lock()
	if f.down == nil {
		f.down = map[string]bool{}
	}
	f.down[name] = !up
	changed := f.changed
	f.mu.Unlock()
	changed(name, up)
}

// rig is an engine on fakes.
type rig struct {
	e      *Engine
	wire   *fakeWire
	addrs  *fakeAddrs
	routes *fakeRoutes
	ann    *fakeAnnouncer
	links  *fakeLinks
	log    *logbuf.Buffer
	dir    string
	fw     *fakeFirewall
	vmacs  *fakeVMACs

	mu          sync.Mutex
	transitions []Transition
}

// fakeVMACs keeps the virtual MAC interfaces and the parents' settings
// as the kernel would, and a log of calls.
type fakeVMACs struct {
	mu      sync.Mutex
	up      map[string]vip.VMAC
	parents map[string]bool // parent -> ARP settings applied
	calls   []string
}

func (f *fakeVMACs) Create(v vip.VMAC) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.up == nil {
		f.up = map[string]vip.VMAC{}
	}
	f.up[v.Name] = v
	f.calls = append(f.calls, "create "+v.Name+" on "+v.Parent+" "+v.MAC().String())
	return nil
}

func (f *fakeVMACs) Delete(v vip.VMAC) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.up[v.Name]
	delete(f.up, v.Name)
	f.calls = append(f.calls, "delete "+v.Name)
	return ok, nil
}

func (f *fakeVMACs) ParentSettings(string) (map[string]string, error) {
	return map[string]string{"arp_ignore": "0"}, nil
}

func (f *fakeVMACs) SetParent(p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.parents == nil {
		f.parents = map[string]bool{}
	}
	f.parents[p] = true
	f.calls = append(f.calls, "set "+p)
	return nil
}

func (f *fakeVMACs) RestoreParent(p string, old map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.parents, p)
	f.calls = append(f.calls, fmt.Sprintf("restore %s %v", p, old))
	return nil
}

func (f *fakeVMACs) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeFirewall records what the engine has dropped.
type fakeFirewall struct {
	mu     sync.Mutex
	drops  []netip.Addr
	calls  int
	closed bool
	err    error
}

func (f *fakeFirewall) Drop(addrs []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return f.err
	}
	f.drops = slices.Clone(addrs)
	return nil
}

func (f *fakeFirewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed, f.drops = true, nil
	return nil
}

func (f *fakeFirewall) state() ([]netip.Addr, int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.drops), f.calls, f.closed
}

func newRig(t *testing.T, addrs *fakeAddrs) *rig {
	t.Helper()
	return newRigWith(t, addrs, Options{})
}

// newRigWith is a rig whose engine also gets opts' effects.
func newRigWith(t *testing.T, addrs *fakeAddrs, opts Options) *rig {
	t.Helper()
	r := &rig{wire: newFakeWire("192.0.2.1"), addrs: addrs, routes: newFakeRoutes(), ann: &fakeAnnouncer{}, links: &fakeLinks{},
		log: &logbuf.Buffer{}, dir: t.TempDir(), fw: &fakeFirewall{}, vmacs: &fakeVMACs{}}
	var err error
	r.e, err = New(Options{
		Log:      hclog.New(&hclog.LoggerOptions{Output: r.log, Level: hclog.Debug}),
		StateDir: r.dir, Adverts: r.wire, Addresses: addrs, Routes: r.routes, Announcer: r.ann, Links: r.links, Firewall: r.fw, VMACs: r.vmacs,
		OnTransition: func(tr Transition) {
			r.mu.Lock()
			r.transitions = append(r.transitions, tr)
			r.mu.Unlock()
		},
		Effects: opts.Effects,
		Clock:   opts.Clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.e.Shutdown) // before the state directory goes; tests that "crash" never stop it
	return r
}

func (r *rig) transitionsOf(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, t := range r.transitions {
		if t.Instance == name && !t.PriorityChange {
			out = append(out, t.To)
		}
	}
	return out
}

// priorityNotes lists instance name's priority changes told to notifiers,
// as "STATE PRIORITY".
func (r *rig) priorityNotes(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, t := range r.transitions {
		if t.Instance == name && t.PriorityChange {
			out = append(out, fmt.Sprintf("%s %d", t.To, t.Priority))
		}
	}
	return out
}

// state waits (at most 3 s, polling every 5 ms) for instance name to reach
// want, and fails the test otherwise.
func (r *rig) waitState(t *testing.T, name, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := r.state(name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s, want %s\nlog:\n%s", name, got, want, r.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFor waits (at most 3 s, polling every 5 ms) until the first
// instance's status satisfies ok, and fails the test otherwise.
func (r *rig) waitFor(t *testing.T, what string, ok func(Status) bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if st := r.e.Status(); len(st) > 0 && ok(st[0]) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v\nlog:\n%s", what, r.e.Status(), r.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *rig) state(name string) string {
	for _, s := range r.e.Status() {
		if s.Name == name {
			return s.State
		}
	}
	return "absent"
}

func (r *rig) record(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, vipRecord))
	if err != nil {
		return ""
	}
	return string(b)
}

// config builds node n1's configuration from a site policy body (the node
// block is added here).
func nodeConfig(t *testing.T, body string) *config.Config {
	t.Helper()
	src := "node \"n1\" {\n  interface = \"eth0\"\n  address = \"192.0.2.1\"\n}\nnode \"n2\" {\n  interface = \"eth0\"\n  address = \"192.0.2.2\"\n}\n" + body
	site, _, diags := policy.Parse("test.hcl", []byte(src), policy.Options{})
	if diags.HasErrors() {
		t.Fatalf("policy: %s", diags.Error())
	}
	cfg, err := site.Config("n1")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}
