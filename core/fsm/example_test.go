package fsm_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-ha/vigil/core/fsm"
	"github.com/vigil-ha/vigil/core/vrrp"
)

// A backup that hears no master takes over after Master_Down_Interval; the
// caller carries out the actions, in order, and asks for the next deadline.
// Time is the caller's: nothing here sleeps or reads a clock.
func Example() {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := fsm.New(fsm.Config{Version: vrrp.V3, Priority: 100, Interval: time.Second, Preempt: true,
		PrimaryAddr: netip.MustParseAddr("192.0.2.1")})
	for _, a := range m.Start(t0) {
		fmt.Println(a)
	}
	fmt.Println("master down at", m.Deadline().Sub(t0))
	for _, a := range m.Tick(m.Deadline()) {
		fmt.Println(a)
	}
	fmt.Println(m.State(), "next advert at", m.Deadline().Sub(t0))
	// Output:
	// INIT->BACKUP
	// master down at 3.609375s
	// BACKUP->MASTER
	// add-vips
	// send-advert(100)
	// send-gratuitous
	// MASTER next advert at 4.609375s
}
