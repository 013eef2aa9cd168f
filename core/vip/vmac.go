package vip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VMAC is the macvlan interface of an instance that owns the RFC's virtual
// MAC (keepalived's use_vmac): its VIPs live on it, so the address keeps
// one MAC whichever node holds it and switches and clients never have to
// learn a new one on failover.
type VMAC struct {
	Name, Parent string
	VRID         uint8
	V6           bool
}

// MAC is the virtual router MAC: 00-00-5E-00-01-VRID for IPv4,
// 00-00-5E-00-02-VRID for IPv6 (RFC 5798 §7.3).
func (v VMAC) MAC() net.HardwareAddr {
	family := byte(1)
	if v.V6 {
		family = 2
	}
	return net.HardwareAddr{0, 0, 0x5e, 0, family, v.VRID}
}

func (v VMAC) String() string { return fmt.Sprintf("%s (%s on %s)", v.Name, v.MAC(), v.Parent) }

// ours reports whether l is v's macvlan: on v's parent, with v's MAC.
func (v VMAC) ours(l netlink.Link, parent netlink.Link) bool {
	mv, ok := l.(*netlink.Macvlan)
	return ok && mv.ParentIndex == parent.Attrs().Index && bytes.Equal(mv.HardwareAddr, v.MAC())
}

// CreateVMAC makes v's macvlan in private mode (its peers on the same
// parent do not talk to each other, as keepalived has it) and brings it
// up. An IPv4 one answers ARP only for its own addresses and takes packets
// from the node's own addresses (arp_ignore 1, accept_local 1) and has no
// IPv6; an IPv6 one makes no addresses of its own and carries the parent's
// link-local address, which its adverts come from (RFC 5798 §5.1.2.1). An
// interface of that name that is already v's macvlan (left by a run that
// died) is taken over; any other interface of that name is an error, never
// touched.
func CreateVMAC(v VMAC) (err error) {
	parent, err := netlink.LinkByName(v.Parent)
	if err != nil {
		return fmt.Errorf("interface %s: %w", v.Parent, err)
	}
	l, err := netlink.LinkByName(v.Name)
	switch {
	case err == nil && !v.ours(l, parent):
		return fmt.Errorf("interface %s exists and is not the virtual MAC interface of VRID %d on %s: rename it, or name another with vmac_interface", v.Name, v.VRID, v.Parent)
	case err != nil:
		mv := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: v.Name, ParentIndex: parent.Attrs().Index, HardwareAddr: v.MAC()},
			Mode: netlink.MACVLAN_MODE_PRIVATE}
		if err := netlink.LinkAdd(mv); err != nil {
			return fmt.Errorf("create %s: %w", v, err)
		}
		if l, err = netlink.LinkByName(v.Name); err != nil {
			return fmt.Errorf("create %s: %w", v, err)
		}
		// One made here and not finished is removed, not left half-set.
		defer func() {
			if err != nil {
				netlink.LinkDel(l)
			}
		}()
	}
	err = setUpVMAC(v, parent, l)
	return err
}

// setUpVMAC gives v's macvlan l its addresses and settings and brings it up.
func setUpVMAC(v VMAC, parent, l netlink.Link) error {
	if v.V6 {
		if err := netlink.LinkSetIP6AddrGenMode(l, 1); err != nil { // IN6_ADDR_GEN_MODE_NONE
			return fmt.Errorf("%s: address generation: %w", v.Name, err)
		}
		if err := copyLinkLocal(parent, l); err != nil {
			return fmt.Errorf("%s: %w", v.Name, err)
		}
	} else {
		for k, val := range map[string]string{"ipv4/conf/%s/arp_ignore": "1", "ipv4/conf/%s/accept_local": "1", "ipv6/conf/%s/disable_ipv6": "1"} {
			err := writeSysctl(fmt.Sprintf(k, v.Name), val)
			if err != nil && !(strings.HasPrefix(k, "ipv6/") && errors.Is(err, os.ErrNotExist)) { // a kernel without IPv6
				return fmt.Errorf("%s: %w", v.Name, err)
			}
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring %s up: %w", v.Name, err)
	}
	return nil
}

// copyLinkLocal puts parent's link-local address on l (no DAD: the
// parent already owns it).
func copyLinkLocal(parent, l netlink.Link) error {
	addrs, err := netlink.AddrList(parent, unix.AF_INET6)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			a.Flags |= unix.IFA_F_NODAD
			a.Label, a.LinkIndex = "", 0
			if err := netlink.AddrReplace(l, &a); err != nil {
				return fmt.Errorf("link-local address %v: %w", a.IPNet, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%s has no IPv6 link-local address to send adverts from", parent.Attrs().Name)
}

// DeleteVMAC removes v's macvlan, and only it: an interface of that name
// that is not v's macvlan stays. It reports whether it deleted one.
func DeleteVMAC(v VMAC) (bool, error) {
	l, err := netlink.LinkByName(v.Name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return false, nil
		}
		return false, err
	}
	// Only v's macvlan on v's parent: a record naming another parent
	// never removes an interface that is not Vigil's.
	parent, err := netlink.LinkByName(v.Parent)
	if err != nil || !v.ours(l, parent) {
		return false, nil
	}
	if err := netlink.LinkDel(l); err != nil {
		return false, fmt.Errorf("delete %s: %w", v, err)
	}
	return true, nil
}

// ParentARP are the parent's settings a virtual MAC needs, so that clients
// never learn the parent's own MAC for a VIP: it must not answer ARP for
// the VIPs on its macvlans (arp_ignore 1, arp_filter 1, as keepalived
// sets), nor ask with a VIP as sender when a reply from a VIP leaves
// through it (arp_announce 2, which keepalived does not set: its clients
// learn the real MAC from such requests).
var ParentARP = map[string]string{"arp_ignore": "1", "arp_filter": "1", "arp_announce": "2"}

// ReadParentARP returns parent's current values of the ParentARP keys,
// for RestoreSysctls; the caller records them before SetParentARP.
func ReadParentARP(parent string) (map[string]string, error) {
	old := map[string]string{}
	for k := range ParentARP {
		cur, err := readSysctl(fmt.Sprintf("ipv4/conf/%s/%s", parent, k))
		if err != nil {
			return nil, err
		}
		old[k] = cur
	}
	return old, nil
}

// SetParentARP applies ParentARP to parent.
func SetParentARP(parent string) error {
	for k, val := range ParentARP {
		if err := writeSysctl(fmt.Sprintf("ipv4/conf/%s/%s", parent, k), val); err != nil {
			return err
		}
	}
	return nil
}

// RestoreSysctls puts back what SetParentARP replaced on ifname.
func RestoreSysctls(ifname string, vals map[string]string) error {
	var errs []error
	for k, val := range vals {
		errs = append(errs, writeSysctl(fmt.Sprintf("ipv4/conf/%s/%s", ifname, k), val))
	}
	return errors.Join(errs...)
}

func sysctlPath(p string) string { return filepath.Join("/proc/sys/net", p) }

func readSysctl(p string) (string, error) {
	b, err := os.ReadFile(sysctlPath(p))
	return strings.TrimSpace(string(b)), err
}

func writeSysctl(p, val string) error {
	if strings.Contains(p, "..") {
		return fmt.Errorf("sysctl %s: bad interface name", p)
	}
	return os.WriteFile(sysctlPath(p), []byte(val), 0o644)
}
