package bgp

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/pluginhost"
)

// Restart backoff of a speaker that died: from minBackoff, doubling, to
// maxBackoff; reset after a run of stableAfter.
const (
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 30 * time.Second
	stableAfter = time.Minute
)

// Runner keeps the speaker process running with the latest desired state:
// each start (and each restart after a crash) is told the whole state,
// and each change sends it whole again.
type Runner struct {
	path, user, group string
	log               hclog.Logger

	mu      sync.Mutex
	desired Desired
	version uint64 // of desired; the writer sends when it lags
	status  Status
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

// Status is what the speaker last reported: sessions by peer name, routes
// announced now, and counts.
type Status struct {
	Peers     map[string]PeerState `json:"peers"`
	Announced []Route              `json:"announced"`
	// Announcements and Withdrawals count route changes; Restarts counts
	// speaker restarts after a crash.
	Announcements uint64 `json:"announcements"`
	Withdrawals   uint64 `json:"withdrawals"`
	Restarts      uint64 `json:"restarts"`
	// Drops counts, by peer, established sessions that went down (a
	// router's NOTIFICATION, a hold timer, BFD, a malformed message).
	Drops      map[string]uint64 `json:"drops,omitempty"`
	LastChange time.Time         `json:"last_change"`
	Running    bool              `json:"running"`
}

// Start runs the speaker binary at path as user and group (never the
// agent's), with nothing to announce until Set.
func Start(path, user, group string, log hclog.Logger) *Runner {
	r := &Runner{path: path, user: user, group: group, log: log, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		status: Status{Peers: map[string]PeerState{}, Drops: map[string]uint64{}}}
	go r.run()
	return r
}

// Set makes d what the speaker does; it never blocks.
func (r *Runner) Set(d Desired) {
	d.Routes = Sorted(d.Routes)
	r.mu.Lock()
	r.desired = d
	r.version++
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Status returns a copy of the speaker's last reports.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.status
	st.Peers = make(map[string]PeerState, len(r.status.Peers))
	for k, v := range r.status.Peers {
		st.Peers[k] = v
	}
	st.Announced = slices.Clone(r.status.Announced)
	st.Drops = maps.Clone(r.status.Drops)
	return st
}

// Stop ends the speaker: its input closes, it withdraws its routes (after
// its graceful shutdown time) and closes its sessions; after timeout more
// it is killed.
func (r *Runner) Stop(timeout time.Duration) {
	select {
	case <-r.quit:
	default:
		close(r.quit)
	}
	select {
	case <-r.done:
	case <-time.After(r.graceful() + timeout):
	}
}

func (r *Runner) graceful() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.desired.Speaker.GracefulShutdown
}

// run starts the speaker and starts it again when it dies, until Stop.
func (r *Runner) run() {
	defer close(r.done)
	backoff := minBackoff
	for {
		began := time.Now()
		stopped := r.once()
		if stopped {
			return
		}
		if time.Since(began) >= stableAfter {
			backoff = minBackoff
		}
		r.log.Warn("BGP speaker exited; restarting", "after", backoff)
		select {
		case <-r.quit:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
		r.mu.Lock()
		r.status.Restarts++
		r.mu.Unlock()
	}
}

// once runs one speaker process; stopped is true when it ended because of
// Stop.
func (r *Runner) once() (stopped bool) {
	// Pipes of the kernel's, passed to the child as they are: a write to
	// a dead speaker fails instead of waiting for a reader.
	inR, inW, err := os.Pipe()
	if err != nil {
		r.log.Error("cannot start the BGP speaker", "error", err)
		return r.waitRetry()
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		r.log.Error("cannot start the BGP speaker", "error", err)
		return r.waitRetry()
	}
	child, err := pluginhost.StartChild(r.path, nil, r.user, r.group, inR, outW, r.log)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		r.log.Error("cannot start the BGP speaker", "path", r.path, "error", err)
		return r.waitRetry()
	}
	defer inW.Close()
	r.setRunning(true)
	defer r.setRunning(false)
	go r.read(outR)
	sent := uint64(0)
	enc := json.NewEncoder(inW)
	send := func() {
		r.mu.Lock()
		d, v := r.desired, r.version
		r.mu.Unlock()
		if v == sent {
			return
		}
		if err := enc.Encode(d); err == nil {
			sent = v
		}
	}
	send()
	for {
		select {
		case <-r.wake:
			send()
		case <-child.Done():
			return false
		case <-r.quit:
			send() // the last state: what it withdraws at its stop
			inW.Close()
			select {
			case <-child.Done():
			case <-time.After(r.graceful() + 5*time.Second):
				r.log.Warn("BGP speaker did not stop in time; killing it")
				child.Kill()
			}
			return true
		}
	}
}

// waitRetry waits a second before the next start, or for Stop.
func (r *Runner) waitRetry() (stopped bool) {
	select {
	case <-r.quit:
		return true
	case <-time.After(time.Second):
		return false
	}
}

func (r *Runner) setRunning(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.Running = on
	if !on {
		// Sessions end with the process; the routers drop its routes.
		for k, p := range r.status.Peers {
			p.State, p.Since = "idle", time.Now()
			r.status.Peers[k] = p
		}
		r.status.Announced = nil
	}
}

// read takes the speaker's reports until its output ends.
func (r *Runner) read(out io.ReadCloser) {
	defer out.Close()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		var rep Report
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			r.log.Warn("unreadable report from the BGP speaker", "error", err)
			continue
		}
		r.take(rep)
	}
}

// take records one report and logs it in the operator's words.
func (r *Runner) take(rep Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case rep.Peer != nil:
		p := *rep.Peer
		name := p.Name
		if name == "" {
			name = p.Addr
		}
		old, seen := r.status.Peers[name]
		r.status.Peers[name] = p
		switch {
		case p.State == "established":
			r.log.Info(fmt.Sprintf("BGP peer %s established", name), "address", p.Addr)
		case seen && old.State == "established":
			r.status.Drops[name]++
			r.log.Warn(fmt.Sprintf("BGP peer %s down", name), "address", p.Addr, "state", p.State, "reason", p.Reason)
		}
	case rep.Route != nil:
		c := *rep.Route
		r.status.LastChange = c.At
		r.status.Announced = slices.DeleteFunc(r.status.Announced, func(x Route) bool { return x.Prefix == c.Route.Prefix })
		if c.Announced {
			r.status.Announcements++
			r.status.Announced = Sorted(append(r.status.Announced, c.Route))
			r.log.Info(fmt.Sprintf("%v announced", c.Route.Prefix), "instance", c.Route.Instance, "med", c.Route.MED)
		} else {
			r.status.Withdrawals++
			r.log.Info(fmt.Sprintf("%v withdrawn", c.Route.Prefix), "instance", c.Route.Instance)
		}
	case rep.Error != "":
		r.log.Error("BGP speaker: " + rep.Error)
	}
}

// HostRoute is the host route of an address: /32 or /128.
func HostRoute(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
