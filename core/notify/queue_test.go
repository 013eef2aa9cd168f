package notify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/sdk"
	"github.com/vigil-ha/vigil/test/logbuf"
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

// A queue file damaged in every way a crash or a disk can damage it still
// opens: oversized and unparsable records are skipped and counted, a torn
// last record is cut, and the next append is readable.
func TestDamagedQueueStillOpens(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString(`{"Seq":1,"Instance":"VI_1"}` + "\n")
	b.WriteString(`{"Seq":9,"Reason":"` + strings.Repeat("x", 2<<20) + `"}` + "\n") // 2 MiB: agents used to refuse to start
	b.WriteString("\x00\x00garbage\n")
	b.WriteString(`{"Seq":2,"Instance":"VI_1"}` + "\n")
	b.WriteString(`{"Seq":3,"Inst`) // torn by a crash
	if err := os.WriteFile(filepath.Join(dir, "mail.log"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	q, err := Open(dir, "mail", &journal{}, hclog.New(&hclog.LoggerOptions{Output: &logged}))
	if err != nil {
		t.Fatalf("a damaged queue stops the notifier (and the agent): %v", err)
	}
	if q.Pending() != 2 || q.skipped != 3 {
		t.Errorf("pending %d skipped %d, want 2 and 3", q.Pending(), q.skipped)
	}
	if !strings.Contains(logged.String(), "skipped unreadable events: notifier=mail skipped=3") {
		t.Errorf("skips not reported:\n%s", logged.String())
	}
	if err := q.Push(sdk.Event{Seq: 4, Instance: "VI_1"}); err != nil {
		t.Fatal(err)
	}
	q2, err := Open(dir, "mail", &journal{}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, ev := range q2.pending {
		seqs = append(seqs, ev.Seq)
	}
	if len(seqs) != 3 || seqs[2] != 4 || q2.skipped != 2 {
		t.Errorf("after an append: %v (skipped %d), want [1 2 4], the oversized and the garbage records skipped, the torn one gone", seqs, q2.skipped)
	}
}

// While a notifier is down its queue, in memory and on disk, is bounded;
// the drop is reported once it delivers again. A huge reason is cut.
func TestQueueIsBounded(t *testing.T) {
	dir := t.TempDir()
	j := &journal{down: true}
	var logged logbuf.Buffer
	q, err := Open(dir, "mail", j, hclog.New(&hclog.LoggerOptions{Output: &logged}))
	if err != nil {
		t.Fatal(err)
	}
	q.MinRetry, q.MaxRetry = 5*time.Millisecond, 10*time.Millisecond
	for seq := uint64(1); seq <= MaxPending*3; seq++ {
		if err := q.Push(sdk.Event{Seq: seq, Reason: strings.Repeat("r", 64<<10)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := q.Pending(); n > MaxPending {
		t.Errorf("%d events pending, bound %d", n, MaxPending)
	}
	st, _ := os.Stat(filepath.Join(dir, "mail.log"))
	if max := int64(MaxPending) * (MaxReason + 512); st.Size() > max {
		t.Errorf("queue file %d bytes, want at most %d", st.Size(), max)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	j.mu.Lock()
	j.down = false
	j.mu.Unlock()
	waitFor(t, "the backlog to drain", func() bool { return q.Pending() == 0 })
	if !strings.Contains(logged.String(), "events were dropped while it was down") {
		t.Errorf("drop not reported:\n%.2000s", logged.String())
	}
	if got := j.delivered(); got[len(got)-1] != MaxPending*3 {
		t.Errorf("last delivered %d, want the newest event", got[len(got)-1])
	}
}

// The queue's files are never followed through a link, and a directory
// others could write to is refused.
func TestQueueRefusesLinksAndOpenDirectories(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(target, []byte("precious\n"), 0o600)
	if err := os.Symlink(target, filepath.Join(dir, "mail.log")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, "mail", &journal{}, hclog.NewNullLogger()); err == nil {
		t.Error("opened a queue through a symbolic link")
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("link target changed: %q", b)
	}
	open := t.TempDir()
	os.Chmod(open, 0o777)
	if _, err := Open(open, "mail", &journal{}, hclog.NewNullLogger()); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("world-writable state directory: %v", err)
	}
}
