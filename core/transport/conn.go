// Package transport sends and receives VRRP adverts on one interface: a raw
// IP socket (protocol 112) bound to the interface, joined to 224.0.0.18 or
// ff02::12 there, sending with TTL / hop limit 255 and TOS 0xc0 as keepalived
// does, and reporting each received packet's TTL, source and destination.
package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/core/vrrp"
)

// Packet is one received VRRP message and the IP facts §7.1 checks need.
type Packet struct {
	Src, Dst netip.Addr
	TTL      int
	Data     []byte    // the VRRP message, IP header stripped
	At       time.Time // when the kernel received it (when it was read, if the kernel has no stamp)
}

// Conn is a raw VRRP socket on one interface and address family.
type Conn struct {
	ifi *net.Interface
	v6  bool
	src netip.Addr
	p4  *ipv4.PacketConn
	p6  *ipv6.PacketConn
	pc  net.PacketConn
	rc  syscall.RawConn // pc's descriptor, for the arrival stamp

	joinMu sync.Mutex
	joined map[netip.Addr]bool // multicast groups the socket receives

	// Adverts leave through a second socket of their own, kept out of the
	// runtime's poller: every packet sent on a polled socket comes back as
	// a writable event that wakes a thread for nothing, once per advert.
	// It receives nothing (a drop-all filter), and sends allocate nothing:
	// the control message (source, interface, TTL) is marshalled once, and
	// destinations' socket addresses are kept. A node sends thousands of
	// adverts a second at the most.
	send struct {
		sync.Mutex
		fd    int
		oob   []byte
		oobs  map[netip.Addr][]byte // other sources' (SendFrom)
		addrs map[netip.Addr]unix.Sockaddr
	}
}

// Listen opens the VRRP socket for ifname. src is the source address of
// adverts: for IPv4 the node's primary address (found on the interface when
// invalid); for IPv6 always the interface's link-local address (RFC 5798
// §5.1.2.1), and src is ignored.
func Listen(ifname string, v6 bool, src netip.Addr) (*Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", ifname, err)
	}
	if v6 || !src.IsValid() {
		if src, err = interfaceSource(ifi, v6); err != nil {
			return nil, err
		}
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), ifname) }); err != nil {
			return err
		}
		return serr
	}}
	network, wildcard := "ip4:112", "0.0.0.0"
	if v6 {
		network, wildcard = "ip6:112", "::"
	}
	pc, err := lc.ListenPacket(context.Background(), network, wildcard)
	if err != nil {
		return nil, fmt.Errorf("open VRRP socket on %s: %w", ifname, err)
	}
	c := &Conn{ifi: ifi, v6: v6, src: src, pc: pc, joined: map[netip.Addr]bool{}}
	if sc, ok := pc.(syscall.Conn); ok {
		c.rc, _ = sc.SyscallConn()
		c.arrival(time.Now()) // the first ask turns the kernel's receive stamps on
	}
	if err := c.setup(); err != nil {
		pc.Close()
		return nil, fmt.Errorf("set up VRRP socket on %s: %w", ifname, err)
	}
	c.send.fd = -1
	if err := c.setupSend(); err != nil {
		pc.Close()
		return nil, fmt.Errorf("set up VRRP socket on %s: %w", ifname, err)
	}
	return c, nil
}

// sendTimeout bounds a send into a congested interface queue, so that it
// cannot hold the engine's loop.
const sendTimeout = 100 * time.Millisecond

func (c *Conn) setupSend() error {
	family, level := unix.AF_INET, unix.IPPROTO_IP
	if c.v6 {
		family, level = unix.AF_INET6, unix.IPPROTO_IPV6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, vrrp.IPProto)
	if err != nil {
		return fmt.Errorf("send socket: %w", err)
	}
	dropAll, _ := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	filter := make([]unix.SockFilter, len(dropAll))
	for i, ins := range dropAll {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	tv := unix.NsecToTimeval(sendTimeout.Nanoseconds())
	errs := []error{
		unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0), // the kernel's minimum
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv),
		unix.BindToDevice(fd, c.ifi.Name),
	}
	if c.v6 {
		errs = append(errs,
			unix.SetsockoptInt(fd, level, unix.IPV6_MULTICAST_IF, c.ifi.Index),
			unix.SetsockoptInt(fd, level, unix.IPV6_MULTICAST_HOPS, vrrp.TTL),
			unix.SetsockoptInt(fd, level, unix.IPV6_UNICAST_HOPS, vrrp.TTL),
			unix.SetsockoptInt(fd, level, unix.IPV6_MULTICAST_LOOP, 0),
			unix.SetsockoptInt(fd, level, unix.IPV6_TCLASS, vrrp.TOS))
	} else {
		errs = append(errs,
			unix.SetsockoptIPMreqn(fd, level, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(c.ifi.Index)}),
			unix.SetsockoptInt(fd, level, unix.IP_MULTICAST_TTL, vrrp.TTL),
			unix.SetsockoptInt(fd, level, unix.IP_TTL, vrrp.TTL),
			unix.SetsockoptInt(fd, level, unix.IP_MULTICAST_LOOP, 0),
			unix.SetsockoptInt(fd, level, unix.IP_TOS, vrrp.TOS))
	}
	if err := errors.Join(errs...); err != nil {
		unix.Close(fd)
		return fmt.Errorf("send socket: %w", err)
	}
	s := &c.send
	s.fd, s.addrs = fd, map[netip.Addr]unix.Sockaddr{}
	s.oob = c.controlFrom(c.src)
	return nil
}

// controlFrom is the control message that sends from src at TTL 255.
func (c *Conn) controlFrom(src netip.Addr) []byte {
	if c.v6 {
		return (&ipv6.ControlMessage{HopLimit: vrrp.TTL, Src: src.AsSlice(), IfIndex: c.ifi.Index}).Marshal()
	}
	return (&ipv4.ControlMessage{TTL: vrrp.TTL, Src: src.AsSlice(), IfIndex: c.ifi.Index}).Marshal()
}

// sockaddr is dst as the kernel wants it, made once per destination.
func (c *Conn) sockaddr(dst netip.Addr) unix.Sockaddr {
	if sa, ok := c.send.addrs[dst]; ok {
		return sa
	}
	var sa unix.Sockaddr
	if c.v6 {
		s6 := &unix.SockaddrInet6{Addr: dst.As16()}
		if dst.IsLinkLocalUnicast() || dst.IsMulticast() {
			// The index, not the name: a name is looked up in the calling
			// thread's network namespace, which need not be the socket's.
			s6.ZoneId = uint32(c.ifi.Index)
		}
		sa = s6
	} else {
		sa = &unix.SockaddrInet4{Addr: dst.Unmap().As4()}
	}
	c.send.addrs[dst] = sa
	return sa
}

// Join has the socket receive group too (keepalived's vrrp_mcast_group4
// and vrrp_mcast_group6); a group joined already is not joined again.
func (c *Conn) Join(group netip.Addr) error {
	c.joinMu.Lock()
	defer c.joinMu.Unlock()
	if c.joined[group] {
		return nil
	}
	var err error
	if c.v6 {
		err = c.p6.JoinGroup(c.ifi, &net.IPAddr{IP: group.AsSlice()})
	} else {
		err = c.p4.JoinGroup(c.ifi, &net.IPAddr{IP: group.AsSlice()})
	}
	if err != nil {
		return fmt.Errorf("join %v on %s: %w", group, c.ifi.Name, err)
	}
	c.joined[group] = true
	return nil
}

func (c *Conn) setup() error {
	if c.v6 {
		p := ipv6.NewPacketConn(c.pc)
		c.p6 = p
		c.joined[vrrp.GroupV6] = true
		return errors.Join(
			p.JoinGroup(c.ifi, &net.IPAddr{IP: vrrp.GroupV6.AsSlice()}),
			p.SetMulticastInterface(c.ifi),
			p.SetMulticastHopLimit(vrrp.TTL),
			p.SetHopLimit(vrrp.TTL),
			p.SetMulticastLoopback(false),
			p.SetTrafficClass(vrrp.TOS),
			p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagSrc|ipv6.FlagDst|ipv6.FlagInterface, true),
		)
	}
	p := ipv4.NewPacketConn(c.pc)
	c.p4 = p
	c.joined[vrrp.GroupV4] = true
	return errors.Join(
		p.JoinGroup(c.ifi, &net.IPAddr{IP: vrrp.GroupV4.AsSlice()}),
		p.SetMulticastInterface(c.ifi),
		p.SetMulticastTTL(vrrp.TTL),
		p.SetTTL(vrrp.TTL),
		p.SetMulticastLoopback(false),
		p.SetTOS(vrrp.TOS),
		p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagSrc|ipv4.FlagDst|ipv4.FlagInterface, true),
	)
}

// interfaceSource picks the advert source: the first IPv4 address, or the
// link-local IPv6 address.
// PrimaryAddr is the address adverts on ifname come from by default: its
// first IPv4 address, or its IPv6 link-local one. An advert sent from a
// virtual MAC interface that has no IPv4 address of its own comes from its
// parent's.
func PrimaryAddr(ifname string, v6 bool) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", ifname, err)
	}
	return interfaceSource(ifi, v6)
}

func interfaceSource(ifi *net.Interface, v6 bool) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := p.Addr()
		if !v6 && ip.Is4() {
			return ip, nil
		}
		if v6 && ip.Is6() && ip.IsLinkLocalUnicast() {
			return ip.WithZone(""), nil
		}
	}
	if v6 {
		return netip.Addr{}, fmt.Errorf("%s has no IPv6 link-local address to send VRRPv3 from", ifi.Name)
	}
	return netip.Addr{}, fmt.Errorf("%s has no IPv4 address to send adverts from", ifi.Name)
}

// Accept installs the receive filter for the VRIDs run on this socket.
func (c *Conn) Accept(vrids []uint8) error {
	prog, err := filter(c.v6, vrids)
	if err != nil {
		return err
	}
	if c.v6 {
		return c.p6.SetBPF(prog)
	}
	return c.p4.SetBPF(prog)
}

// Source is the address adverts are sent from.
func (c *Conn) Source() netip.Addr { return c.src }

// Interface is the interface the socket is bound to.
func (c *Conn) Interface() *net.Interface { return c.ifi }

// Read blocks for the next packet; buf is reused, so Packet.Data is valid
// until the next Read.
func (c *Conn) Read(buf []byte) (Packet, error) {
	for {
		if c.v6 {
			n, cm, src, err := c.p6.ReadFrom(buf)
			if err != nil {
				return Packet{}, err
			}
			if cm == nil || cm.IfIndex != c.ifi.Index {
				continue
			}
			s, _ := netip.AddrFromSlice(src.(*net.IPAddr).IP)
			d, _ := netip.AddrFromSlice(cm.Dst)
			return Packet{Src: s, Dst: d, TTL: cm.HopLimit, Data: buf[:n], At: c.arrival(time.Now())}, nil
		}
		n, cm, src, err := c.p4.ReadFrom(buf)
		if err != nil {
			return Packet{}, err
		}
		if cm == nil || cm.IfIndex != c.ifi.Index {
			continue
		}
		s, _ := netip.AddrFromSlice(src.(*net.IPAddr).IP)
		d, _ := netip.AddrFromSlice(cm.Dst)
		return Packet{Src: s.Unmap(), Dst: d.Unmap(), TTL: cm.TTL, Data: buf[:n], At: c.arrival(time.Now())}, nil
	}
}

// arrival is when the kernel received the packet just read, on the clock
// of read (which has a monotonic reading, unlike the kernel's wall-clock
// stamp). A backup's master-down timer runs from the advert's arrival: the
// time the reading goroutine took to be scheduled, tens of microseconds to
// a millisecond on a busy node, is not the master's. A stamp that is
// missing, ahead of read or implausibly old (a wall clock step) leaves
// read.
func (c *Conn) arrival(read time.Time) time.Time {
	if c.rc == nil {
		return read
	}
	var ts [2]int64 // struct __kernel_timespec, on every architecture
	var errno syscall.Errno
	c.rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, unix.SIOCGSTAMPNS_NEW, uintptr(unsafe.Pointer(&ts)))
	})
	if errno != 0 {
		return read
	}
	lag := read.Sub(time.Unix(ts[0], ts[1]))
	if lag < 0 || lag > time.Second {
		return read
	}
	return read.Add(-lag)
}

// Send writes one VRRP message to dst (the group, or a unicast peer).
func (c *Conn) Send(msg []byte, dst netip.Addr) error { return c.SendFrom(msg, c.src, dst) }

// SendFrom is Send from another of the interface's addresses: an IPv6
// unicast advert goes from the address its peers know (keepalived's
// unicast_src_ip), not from the link-local one multicast needs.
func (c *Conn) SendFrom(msg []byte, src, dst netip.Addr) error {
	if c.v6 != dst.Is6() || dst.Is4In6() {
		return fmt.Errorf("cannot send to %v on an %s socket", dst, map[bool]string{false: "IPv4", true: "IPv6"}[c.v6])
	}
	s := &c.send
	s.Lock()
	defer s.Unlock()
	if s.fd < 0 {
		return net.ErrClosed
	}
	oob := s.oob
	if src.IsValid() && src != c.src {
		if oob = s.oobs[src]; oob == nil {
			oob = c.controlFrom(src)
			if s.oobs == nil {
				s.oobs = map[netip.Addr][]byte{}
			}
			s.oobs[src] = oob
		}
	}
	var err error
	for {
		if err = unix.Sendmsg(s.fd, msg, oob, c.sockaddr(dst), 0); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return &net.OpError{Op: "sendmsg", Net: c.pc.LocalAddr().Network(), Addr: &net.IPAddr{IP: dst.AsSlice()}, Err: err}
	}
	return nil
}

// Close closes both sockets; a blocked Read returns an error.
func (c *Conn) Close() error {
	s := &c.send
	s.Lock()
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
	s.Unlock()
	return c.pc.Close()
}
