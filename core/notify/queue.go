// Package notify delivers state-change events to notifier plugins through a
// durable queue per notifier: an event is on disk before delivery starts,
// is retried with backoff until the notifier takes it, and goes in order,
// once, across notifier crashes and agent restarts.
//
// The queue's files survive anything short of a lost disk without
// stopping the agent: a torn or oversized record is skipped and counted, a
// record is never appended to a torn one, the queue is bounded while a
// notifier is down (the oldest events go first, and how many went is
// logged once it is back), and no file is opened through a symbolic link.
package notify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/statefile"
	"github.com/vigil-ha/vigil/sdk"
)

// Bounds of what the queue keeps.
const (
	// MaxEventBytes bounds one record; a longer reason is cut to fit.
	MaxEventBytes = 16 << 10
	// MaxReason bounds an event's reason text.
	MaxReason = 1024
	// MaxPending bounds the events kept for a notifier that is down. A
	// node makes a few transitions a day; a thousand is days of flapping.
	MaxPending = 1000
)

// Sender is a notifier plugin as the queue sees it.
type Sender interface {
	Notify(ctx context.Context, ev sdk.Event) error
}

// Queue holds one notifier's undelivered events: NAME.log has one JSON
// event per line, NAME.ack the sequence number of the last one delivered.
type Queue struct {
	name, dir string
	log       hclog.Logger
	send      Sender

	mu      sync.Mutex
	pending []sdk.Event
	acked   uint64
	// Dropped counts events dropped to keep the bound since the last
	// report; Skipped counts unreadable records found at Open.
	dropped, skipped int
	wake             chan struct{}
	// Retry bounds (overridable in tests).
	MinRetry, MaxRetry time.Duration
}

// Open loads the queue of notifier name from dir, keeping events that
// were written but not acknowledged by a previous run. Damaged records are
// skipped with a warning; only an unusable directory is an error.
func Open(dir, name string, send Sender, log hclog.Logger) (*Queue, error) {
	if err := statefile.PrepareDir(dir); err != nil {
		return nil, err
	}
	q := &Queue{name: name, dir: dir, log: log, send: send, wake: make(chan struct{}, 1),
		MinRetry: time.Second, MaxRetry: 30 * time.Second}
	if b, err := statefile.Read(q.path(".ack"), 64); err == nil {
		q.acked, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	if err := q.load(); err != nil {
		return nil, err
	}
	if q.skipped > 0 {
		log.Warn("notifier queue: skipped unreadable events", "notifier", name, "skipped", q.skipped, "path", q.path(".log"))
	}
	if len(q.pending) > MaxPending {
		q.dropOldest(len(q.pending) - MaxPending)
	}
	if len(q.pending) > 0 {
		log.Info("notifier has undelivered events from before", "notifier", name, "events", len(q.pending))
	}
	return q, nil
}

// load reads NAME.log record by record. A record longer than MaxEventBytes
// or that does not parse is skipped; a last record without its newline (a
// write torn by a crash) is cut off, so that the next append starts clean.
func (q *Queue) load() error {
	f, err := statefile.Open(q.path(".log"), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, MaxEventBytes+1)
	var good int64 // bytes up to the end of the last complete record
	for {
		line, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			q.skipped++
			n, rest := int64(len(line)), error(nil)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = r.ReadSlice('\n')
				n += int64(len(line))
				rest = err
			}
			if rest != nil { // torn at the end as well
				return q.cut(f, good)
			}
			good += n
			continue
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				q.skipped++
				return q.cut(f, good)
			}
			return nil
		case err != nil:
			return err
		}
		good += int64(len(line))
		var ev sdk.Event
		if err := json.Unmarshal(bytes.TrimSpace(line), &ev); err != nil || ev.Seq == 0 {
			q.skipped++
			continue
		}
		if ev.Seq > q.acked {
			q.pending = append(q.pending, ev)
		}
	}
}

// cut truncates a torn last record.
func (q *Queue) cut(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

func (q *Queue) path(ext string) string { return filepath.Join(q.dir, q.name+ext) }

// LastSeq is the highest sequence number this queue has seen.
func (q *Queue) LastSeq() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.pending); n > 0 {
		return q.pending[n-1].Seq
	}
	return q.acked
}

// record is ev as one line of at most MaxEventBytes.
func record(ev sdk.Event) ([]byte, error) {
	if len(ev.Reason) > MaxReason {
		ev.Reason = ev.Reason[:MaxReason] + "…(truncated)"
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	if len(b)+1 > MaxEventBytes {
		ev.Reason, ev.VIPs = "(event too large to keep; see the agent's log)", nil
		if b, err = json.Marshal(ev); err != nil {
			return nil, err
		}
	}
	return append(b, '\n'), nil
}

// Push writes ev to disk (fsync) and queues it for delivery.
func (q *Queue) Push(ev sdk.Event) error {
	b, err := record(ev)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &ev); err != nil { // what is delivered is what is kept
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	f, err := statefile.Open(q.path(".log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("queue event for %s: %w", q.name, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("queue event for %s: %w", q.name, err)
	}
	q.pending = append(q.pending, ev)
	if len(q.pending) > MaxPending {
		// Drop a tenth at once, so that the file is rewritten now and then,
		// not on every event while the notifier stays down.
		q.dropOldest(len(q.pending) - MaxPending + MaxPending/10)
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// dropOldest forgets the n oldest events and rewrites the log; q.mu is held
// (or the queue not yet shared).
func (q *Queue) dropOldest(n int) {
	q.pending = append([]sdk.Event(nil), q.pending[n:]...)
	q.dropped += n
	var buf bytes.Buffer
	for _, ev := range q.pending {
		if b, err := record(ev); err == nil {
			buf.Write(b)
		}
	}
	if err := statefile.WriteAtomic(q.path(".log"), buf.Bytes()); err != nil {
		q.log.Warn("notifier queue cannot be rewritten", "notifier", q.name, "error", err)
	}
}

// Pending is how many events wait.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// Oldest is how long the oldest waiting event has waited (0: none waits).
func (q *Queue) Oldest(now time.Time) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return 0
	}
	return max(now.Sub(q.pending[0].Time), 0)
}

// Run delivers events in order until ctx ends, retrying each with backoff.
func (q *Queue) Run(ctx context.Context) {
	retry := q.MinRetry
	for {
		q.mu.Lock()
		var ev *sdk.Event
		if len(q.pending) > 0 {
			ev = &q.pending[0]
		}
		q.mu.Unlock()
		if ev == nil {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
				continue
			}
		}
		err := q.send.Notify(ctx, *ev)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			q.log.Warn("notifier failed; event kept for retry", "notifier", q.name, "event", ev.Seq, "retry_in", retry, "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(retry*2, q.MaxRetry)
			continue
		}
		retry = q.MinRetry
		q.ack(ev.Seq)
	}
}

// ack records delivery of seq, reports events dropped while the notifier
// was down, and compacts the log once nothing waits.
func (q *Queue) ack(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = q.pending[1:]
	q.acked = seq
	if q.dropped > 0 {
		q.log.Warn("notifier is delivering again; events were dropped while it was down", "notifier", q.name, "dropped", q.dropped, "bound", MaxPending)
		q.dropped = 0
	}
	if err := statefile.WriteAtomic(q.path(".ack"), []byte(strconv.FormatUint(seq, 10))); err != nil {
		q.log.Warn("notifier delivery cannot be recorded", "notifier", q.name, "error", err)
	}
	if len(q.pending) == 0 {
		if f, err := statefile.Open(q.path(".log"), os.O_WRONLY|os.O_TRUNC, 0); err == nil {
			f.Sync()
			f.Close()
		}
	}
}
