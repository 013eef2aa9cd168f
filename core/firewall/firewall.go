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
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Table is the name of Vigil's nftables table (family inet).
const Table = "vigil"

// Tables replaces the table's rules and addresses in one atomic batch.
type Tables struct{}

// Drop makes the table drop packets to (in) and from (out) addrs, or
// removes it when addrs is empty; a node whose instances all accept never
// touches nftables.
func (t *Tables) Drop(addrs []netip.Addr) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	exists, err := exists(c)
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

// Close removes the table.
func (t *Tables) Close() error { return Remove() }

// Remove deletes the table if it exists: what a run that died left.
func Remove() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	ok, err := exists(c)
	if err != nil || !ok {
		return err
	}
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: Table})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("remove nftables table inet %s: %w", Table, err)
	}
	return nil
}

func exists(c *nftables.Conn) (bool, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ENOENT) {
			return false, nil // no nf_tables in this kernel: there is nothing to remove
		}
		return false, fmt.Errorf("nftables: %w", err)
	}
	return slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == Table }), nil
}

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
