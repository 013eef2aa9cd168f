// Package notify delivers state-change events to notifier plugins through a
// durable queue per notifier: an event is on disk before delivery starts,
// is retried with backoff until the notifier takes it, and goes in order,
// once, across notifier crashes and agent restarts.
package notify

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/sdk"
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
	wake    chan struct{}
	// Retry bounds (overridable in tests).
	MinRetry, MaxRetry time.Duration
}

// Open loads the queue of notifier name from dir, keeping events that
// were written but not acknowledged by a previous run.
func Open(dir, name string, send Sender, log hclog.Logger) (*Queue, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	q := &Queue{name: name, dir: dir, log: log, send: send, wake: make(chan struct{}, 1),
		MinRetry: time.Second, MaxRetry: 30 * time.Second}
	if b, err := os.ReadFile(q.path(".ack")); err == nil {
		q.acked, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	f, err := os.Open(q.path(".log"))
	if errors.Is(err, os.ErrNotExist) {
		return q, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var ev sdk.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			log.Warn("skipping an unreadable queued event", "notifier", name, "error", err)
			continue
		}
		if ev.Seq > q.acked {
			q.pending = append(q.pending, ev)
		}
	}
	if len(q.pending) > 0 {
		log.Info(fmt.Sprintf("notifier %s has %d undelivered events from before", name, len(q.pending)))
	}
	return q, sc.Err()
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

// Push writes ev to disk (fsync) and queues it for delivery.
func (q *Queue) Push(ev sdk.Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	f, err := os.OpenFile(q.path(".log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
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
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Pending is how many events wait.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
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
			q.log.Warn(fmt.Sprintf("notifier %s failed; event %d kept for retry", q.name, ev.Seq), "retry_in", retry, "error", err)
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

// ack records delivery of seq and compacts the log once nothing waits.
func (q *Queue) ack(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = q.pending[1:]
	q.acked = seq
	if err := os.WriteFile(q.path(".ack.tmp"), []byte(strconv.FormatUint(seq, 10)), 0o600); err == nil {
		os.Rename(q.path(".ack.tmp"), q.path(".ack"))
	}
	if len(q.pending) == 0 {
		os.Truncate(q.path(".log"), 0)
	}
}
