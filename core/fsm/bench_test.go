package fsm_test

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/fsm"
)

// BenchmarkBackupAdvert is the per-packet cost in a backup: one accepted
// advert from the master (the common case on every node, every interval).
func BenchmarkBackupAdvert(b *testing.B) {
	m := fsm.New(v2(80))
	m.Start(t0)
	adv := fsm.Advert{Src: upper, Priority: 100, Interval: time.Second}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		m.Advert(now, adv)
	}
}

// BenchmarkMasterTick is the master's per-interval cost: timer fires, one
// advert to send.
func BenchmarkMasterTick(b *testing.B) {
	m := fsm.New(v3(255, 10*ms))
	m.Start(t0)
	b.ReportAllocs()
	for b.Loop() {
		m.Tick(m.Deadline())
	}
}
