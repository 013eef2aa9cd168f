package lab

import (
	"net/netip"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Do runs fn on an OS thread inside the node's namespace, so that sockets
// and netlink calls fn makes belong to the node. Sockets opened in fn stay
// in that namespace after Do returns.
func (n *Node) Do(fn func()) {
	n.lab.t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		n.lab.t.Fatalf("current netns: %v", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(n.NS)
	if err != nil {
		n.lab.t.Fatalf("netns %s: %v", n.NS, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		n.lab.t.Fatalf("enter %s: %v", n.NS, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// The thread is in the wrong namespace for good; with
			// LockOSThread still held, Go will discard it.
			runtime.LockOSThread()
			n.lab.t.Errorf("leave %s: %v", n.NS, err)
		}
	}()
	fn()
}

// WatchAddr reports the time addr is next added to the node, stamped when
// the netlink event arrives (not when wait is called), or the zero time
// when timeout passes first.
func (n *Node) WatchAddr(addr netip.Addr) (wait func(timeout time.Duration) time.Time) {
	n.lab.t.Helper()
	ns, err := netns.GetFromName(n.NS)
	if err != nil {
		n.lab.t.Fatalf("netns %s: %v", n.NS, err)
	}
	ch := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	if err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{Namespace: &ns}); err != nil {
		ns.Close()
		n.lab.t.Fatalf("watch addresses on %s: %v", n.Name, err)
	}
	seen := make(chan time.Time, 1)
	go func() {
		for u := range ch {
			if ip, ok := netip.AddrFromSlice(u.LinkAddress.IP); ok && u.NewAddr && ip.Unmap() == addr {
				seen <- time.Now()
				break
			}
		}
		for range ch { // drain until the subscription closes
		}
	}()
	return func(timeout time.Duration) time.Time {
		defer ns.Close()
		defer close(done)
		select {
		case at := <-seen:
			return at
		case <-time.After(timeout):
			return time.Time{}
		}
	}
}
