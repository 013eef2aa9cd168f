package lab

import (
	"runtime"

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
