package agent

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/engine"
	"github.com/vigil-ha/vigil/core/notify"
	"github.com/vigil-ha/vigil/sdk"
)

// recordingSender keeps what a notifier's queue delivers.
type recordingSender struct {
	mu  sync.Mutex
	evs []sdk.Event
}

func (r *recordingSender) Notify(_ context.Context, ev sdk.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	return nil
}

func (r *recordingSender) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.evs {
		if ev.Group != "" {
			out = append(out, "GROUP "+ev.Group+" "+ev.From+">"+ev.To+" "+strings.Join(ev.VIPs, ","))
		} else {
			line := "INSTANCE " + ev.Instance + " " + ev.From + ">" + ev.To
			if ev.PriorityChange {
				line += fmt.Sprintf(" priority %d", ev.Priority)
			}
			out = append(out, line)
		}
	}
	return out
}

// TestSyncGroupNotifications: a sync group's notifiers hear the group as a
// whole (keepalived's GROUP events), once per change of the group's state,
// and the members' own notifiers hear the members; before, the group's
// notifiers got every member's change instead. A member's priority change
// (notify_priority_changes) goes to its own notifiers only.
func TestSyncGroupNotifications(t *testing.T) {
	vip := func(s string) config.VIP { return config.VIP{Prefix: netip.MustParsePrefix(s)} }
	cfg := &config.Config{Site: "s", Node: "n1",
		Instances: []config.Instance{
			{Name: "VI_1", SyncGroup: "G", VIPs: []config.VIP{vip("192.0.2.1/24")}, Notify: []string{"inst"}},
			{Name: "VI_2", SyncGroup: "G", VIPs: []config.VIP{vip("198.51.100.1/24")}},
		},
		SyncGroups: []config.SyncGroup{{Name: "G", Instances: []string{"VI_1", "VI_2"}, Notify: []string{"grp"}}},
	}
	ns := newNotifiers(&launcher{log: hclog.NewNullLogger()}, t.TempDir())
	ns.cfg = cfg
	senders := map[string]*recordingSender{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, name := range []string{"inst", "grp"} {
		senders[name] = &recordingSender{}
		q, err := notify.Open(t.TempDir(), name, senders[name], hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		ns.running[name] = &runningNotifier{queue: q}
		go q.Run(ctx)
	}
	for _, step := range []string{
		"VI_1 INIT BACKUP", "VI_2 INIT BACKUP", // group BACKUP at the first
		"VI_1 BACKUP MASTER", "VI_2 BACKUP MASTER", // MASTER at the last
		"VI_1 MASTER MASTER 150", "VI_2 MASTER MASTER 150", // priority changes: the group stays
		"VI_2 MASTER FAULT", "VI_1 MASTER FAULT", // FAULT at the first
		"VI_2 FAULT BACKUP", "VI_1 FAULT BACKUP", // BACKUP once none is in FAULT
		"VI_1 BACKUP MASTER", "VI_2 BACKUP MASTER",
		"VI_1 MASTER INIT", "VI_2 MASTER INIT", // stopping: INIT at the last, nothing between
	} {
		f := strings.Fields(step)
		tr := engine.Transition{Instance: f[0], From: f[1], To: f[2], At: time.Now()}
		if len(f) > 3 {
			p, _ := strconv.Atoi(f[3])
			tr.Priority, tr.PriorityChange = uint8(p), true
		}
		ns.queue(tr)
	}
	want := map[string][]string{
		"grp": {
			"GROUP G INIT>BACKUP 192.0.2.1/24,198.51.100.1/24",
			"GROUP G BACKUP>MASTER 192.0.2.1/24,198.51.100.1/24",
			"GROUP G MASTER>FAULT 192.0.2.1/24,198.51.100.1/24",
			"GROUP G FAULT>BACKUP 192.0.2.1/24,198.51.100.1/24",
			"GROUP G BACKUP>MASTER 192.0.2.1/24,198.51.100.1/24",
			"GROUP G MASTER>INIT 192.0.2.1/24,198.51.100.1/24",
		},
		"inst": {"INSTANCE VI_1 INIT>BACKUP", "INSTANCE VI_1 BACKUP>MASTER", "INSTANCE VI_1 MASTER>MASTER priority 150", "INSTANCE VI_1 MASTER>FAULT",
			"INSTANCE VI_1 FAULT>BACKUP", "INSTANCE VI_1 BACKUP>MASTER", "INSTANCE VI_1 MASTER>INIT"},
	}
	for name, w := range want {
		var got []string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if got = senders[name].lines(); len(got) >= len(w) {
				break
			}
		}
		if !slices.Equal(got, w) {
			t.Errorf("%s heard\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
	}
}
