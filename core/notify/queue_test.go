package notify

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/sdk"
)

// journal records deliveries; while down it refuses them, as an SMTP
// server that is stopped would.
type journal struct {
	mu   sync.Mutex
	down bool
	got  []uint64
}

func (j *journal) Notify(_ context.Context, ev sdk.Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.down {
		return errors.New("connection refused")
	}
	j.got = append(j.got, ev.Seq)
	return nil
}

func (j *journal) delivered() []uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]uint64(nil), j.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDownThenUp: three events while the notifier is down arrive once, in
// order, when it comes back.
func TestDownThenUp(t *testing.T) {
	j := &journal{down: true}
	q, err := Open(t.TempDir(), "mail", j, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	q.MinRetry, q.MaxRetry = 5*time.Millisecond, 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	for seq := uint64(1); seq <= 3; seq++ {
		if err := q.Push(sdk.Event{Seq: seq, Instance: "VI_1"}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if len(j.delivered()) != 0 || q.Pending() != 3 {
		t.Fatalf("delivered %v while down, pending %d", j.delivered(), q.Pending())
	}
	j.mu.Lock()
	j.down = false
	j.mu.Unlock()
	waitFor(t, "three deliveries", func() bool { return q.Pending() == 0 })
	time.Sleep(30 * time.Millisecond)
	if got := j.delivered(); len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Errorf("delivered %v, want [1 2 3] once each", got)
	}
}

// TestSurvivesRestart: events queued by one run and not delivered are
// delivered by the next; delivered ones are not sent again.
func TestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	first := &journal{}
	q, _ := Open(dir, "mail", first, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	go q.Run(ctx)
	q.Push(sdk.Event{Seq: 1})
	waitFor(t, "first delivery", func() bool { return len(first.delivered()) == 1 })
	cancel()
	first.mu.Lock()
	first.down = true
	first.mu.Unlock()
	q.Push(sdk.Event{Seq: 2}) // queued on disk, no runner
	q.Push(sdk.Event{Seq: 3})

	second := &journal{}
	q2, err := Open(dir, "mail", second, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if q2.LastSeq() != 3 || q2.Pending() != 2 {
		t.Fatalf("reopened: last %d pending %d", q2.LastSeq(), q2.Pending())
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go q2.Run(ctx2)
	waitFor(t, "redelivery", func() bool { return q2.Pending() == 0 })
	if got := second.delivered(); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Errorf("second run delivered %v, want [2 3]", got)
	}
}
