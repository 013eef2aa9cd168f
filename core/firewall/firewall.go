// Package firewall keeps VRRPv3's Accept_Mode (RFC 5798 §6.1): a master
// that is not the owner of its addresses, with accept mode off, takes no
// packets addressed to them. Like keepalived's vrrp_strict / no_accept, it
// drops them with nftables, in a table of Vigil's own ("inet vigil") that
// nothing else writes and that Vigil removes when it stops, and that the
// next start or `vigil cleanup` removes after a crash. Neighbor discovery
// for IPv6 addresses still passes, or the master could not be found.
package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Table is the name of Vigil's nftables table (family inet).
const Table = "vigil"

// ErrNotOurs is returned when a table of Vigil's name holds what Vigil
// never makes: someone else's, never changed or deleted.
var ErrNotOurs = errors.New("nftables table inet " + Table + " exists and is not Vigil's (other sets or chains): rename it; Vigil will not touch it")

// WatchEvery is how often a table in force is checked for, so that
// someone else's `nft flush ruleset` is undone.
var WatchEvery = 2 * time.Second

// Tables replaces the table's rules and addresses in one atomic batch, and
// while there are addresses to drop, puts the table back if someone else
// removed it. It works in the network namespace of its first Drop.
type Tables struct {
	// Restored is told when the table had gone and was made again (or
	// could not be: err).
	Restored func(err error)

	mu      sync.Mutex
	ns      *os.File // another network namespace it works in (tests), nil for the process's
	nsKnown bool
	addrs   []netip.Addr // in force
	stop    chan struct{}
	done    chan struct{}
}

// processNS is the network namespace the process started in, read while
// the package initialises (on the main thread, locked there by the
// runtime). /proc/self/ns/net would not do: it is the main thread's
// namespace now, and a test that enters a lab namespace may be running
// on the main thread; the table's watcher, on another thread, then made
// the table again in the host's namespace.
var processNS, processNSErr = os.Stat("/proc/thread-self/ns/net")

// conn opens nftables in the table's namespace: the process's own, with
// no namespace switch (setns needs a privilege the agent does not have,
// and the unit's RestrictNamespaces forbids it), unless the first Drop came
// from a thread in another namespace (tests drive a lab node that way).
func (t *Tables) conn() (*nftables.Conn, error) {
	if !t.nsKnown {
		t.nsKnown = true
		here, err := os.Stat("/proc/thread-self/ns/net")
		if err == nil && processNSErr == nil && !os.SameFile(here, processNS) {
			ns, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				return nil, fmt.Errorf("nftables: %w", err)
			}
			t.ns = ns
		}
	}
	var opts []nftables.ConnOption
	if t.ns != nil {
		opts = append(opts, nftables.WithNetNSFd(int(t.ns.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

// Drop makes the table drop packets to (in) and from (out) addrs, or
// removes it when addrs is empty; a node whose instances all accept never
// touches nftables.
func (t *Tables) Drop(addrs []netip.Addr) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.apply(addrs); err != nil {
		return err
	}
	t.addrs = slices.Clone(addrs)
	if len(addrs) > 0 && t.stop == nil {
		t.stop, t.done = make(chan struct{}), make(chan struct{})
		go t.watch(t.stop, t.done)
	}
	return nil
}

// apply makes the kernel's table hold addrs; t.mu is held.
func (t *Tables) apply(addrs []netip.Addr) error {
	c, err := t.conn()
	if err != nil {
		return err
	}
	exists, err := ours(c)
	if err != nil {
		return err
	}
	if exists {
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: Table})
	}
	if len(addrs) > 0 {
		if err := build(c, addrs); err != nil {
			return err
		}
	}
	if !exists && len(addrs) == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table inet %s: %w", Table, err)
	}
	return nil
}

// watch puts the table back while addresses are in force and it is gone.
func (t *Tables) watch(stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(WatchEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		var err error
		restored := false
		if c, cerr := t.conn(); cerr != nil {
			err = cerr
		} else if present, perr := ours(c); perr == nil && !present && len(t.addrs) > 0 {
			err, restored = t.apply(t.addrs), true
		}
		t.mu.Unlock()
		if restored && t.Restored != nil {
			t.Restored(err)
		}
	}
}

// Close removes the table and ends the watch.
func (t *Tables) Close() error {
	t.mu.Lock()
	stop, done := t.stop, t.done
	t.stop, t.addrs = nil, nil
	t.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.apply(nil)
	if t.ns != nil {
		t.ns.Close()
		t.ns = nil
	}
	t.nsKnown = false
	return err
}

// Remove deletes the table if it exists and is Vigil's: what a run that
// died left.
func Remove() error {
	t := &Tables{}
	defer func() {
		if t.ns != nil {
			t.ns.Close()
		}
	}()
	return t.apply(nil)
}

// ours reports whether the table exists; one of that name that holds
// anything Vigil does not make is ErrNotOurs.
func ours(c *nftables.Conn) (bool, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ENOENT) {
			return false, nil // no nf_tables in this kernel: there is nothing to remove
		}
		return false, fmt.Errorf("nftables: %w", err)
	}
	i := slices.IndexFunc(tables, func(t *nftables.Table) bool { return t.Name == Table })
	if i < 0 {
		return false, nil
	}
	sets, err := c.GetSets(tables[i])
	if err != nil {
		return false, fmt.Errorf("nftables: %w", err)
	}
	for _, s := range sets {
		if !slices.Contains(setNames, s.Name) {
			return true, ErrNotOurs
		}
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("nftables: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name == Table && !slices.Contains(chainNames, ch.Name) {
			return true, ErrNotOurs
		}
	}
	return true, nil
}

// What Vigil's table holds, and nothing else.
var (
	setNames   = []string{"no_accept4", "no_accept6", "nd"}
	chainNames = []string{"input", "output"}
)

// ndTypes are ICMPv6 router/neighbor discovery (133-137), which a VIP
// must still answer and send.
var ndTypes = []byte{133, 134, 135, 136, 137}

// build queues the table: sets of addresses per family, and an input and
// an output chain that drop packets to and from them.
func build(c *nftables.Conn, addrs []netip.Addr) error {
	tbl := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: Table})
	v4 := &nftables.Set{Table: tbl, Name: "no_accept4", KeyType: nftables.TypeIPAddr}
	v6 := &nftables.Set{Table: tbl, Name: "no_accept6", KeyType: nftables.TypeIP6Addr}
	nd := &nftables.Set{Table: tbl, Name: "nd", KeyType: nftables.TypeICMP6Type, Constant: true}
	var e4, e6, end []nftables.SetElement
	for _, a := range addrs {
		if a.Unmap().Is4() {
			e4 = append(e4, nftables.SetElement{Key: a.Unmap().AsSlice()})
		} else {
			e6 = append(e6, nftables.SetElement{Key: a.AsSlice()})
		}
	}
	for _, t := range ndTypes {
		end = append(end, nftables.SetElement{Key: []byte{t}})
	}
	for _, s := range []struct {
		set   *nftables.Set
		elems []nftables.SetElement
	}{{v4, e4}, {v6, e6}, {nd, end}} {
		if err := c.AddSet(s.set, s.elems); err != nil {
			return fmt.Errorf("nftables set %s: %w", s.set.Name, err)
		}
	}
	policy := nftables.ChainPolicyAccept
	for _, ch := range []struct {
		name string
		hook *nftables.ChainHook
		// offsets of the address matched: destination in, source out
		off4, off6 uint32
	}{{"input", nftables.ChainHookInput, 16, 24}, {"output", nftables.ChainHookOutput, 12, 8}} {
		chain := c.AddChain(&nftables.Chain{Name: ch.name, Table: tbl, Type: nftables.ChainTypeFilter,
			Hooknum: ch.hook, Priority: nftables.ChainPriorityFilter, Policy: &policy})
		// IPv6 neighbor discovery passes.
		c.AddRule(&nftables.Rule{Table: tbl, Chain: chain, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Lookup{SourceRegister: 1, SetName: nd.Name, SetID: nd.ID},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}})
		for _, f := range []struct {
			proto    byte
			off, len uint32
			set      *nftables.Set
		}{{unix.NFPROTO_IPV4, ch.off4, 4, v4}, {unix.NFPROTO_IPV6, ch.off6, 16, v6}} {
			c.AddRule(&nftables.Rule{Table: tbl, Chain: chain, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f.proto}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: f.off, Len: f.len},
				&expr.Lookup{SourceRegister: 1, SetName: f.set.Name, SetID: f.set.ID},
				&expr.Counter{},
				&expr.Verdict{Kind: expr.VerdictDrop},
			}})
		}
	}
	return nil
}
