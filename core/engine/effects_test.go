package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/fsm"
)

// journal records the calls of fake effects, in order.
type journal struct {
	mu    sync.Mutex
	calls []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	j.calls = append(j.calls, s)
	j.mu.Unlock()
}

// take returns the calls so far and forgets them.
func (j *journal) take() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := j.calls
	j.calls = nil
	return out
}

// fakeEffect records each call with its instance and addresses; fail
// makes the named hook fail.
type fakeEffect struct {
	name string
	j    *journal
	fail string
}

func (f *fakeEffect) Name() string { return f.name }
func (f *fakeEffect) rec(hook string, m Mastership) error {
	var addrs []string
	for _, a := range m.Addrs {
		addrs = append(addrs, a.Prefix.String())
	}
	f.j.add(fmt.Sprintf("%s %s %s %s", f.name, hook, m.Name(), strings.Join(addrs, ",")))
	if hook == f.fail {
		return errors.New("refused by the fake")
	}
	return nil
}
func (f *fakeEffect) Policy(cfg *config.Config) error {
	f.j.add(fmt.Sprintf("%s policy %d", f.name, len(cfg.Instances)))
	return nil
}
func (f *fakeEffect) Claim(ms []Mastership) error {
	var names []string
	for _, m := range ms {
		names = append(names, m.Name())
	}
	f.j.add(f.name + " claim " + strings.Join(names, ","))
	return nil
}
func (f *fakeEffect) Assert(m Mastership) error   { return f.rec("assert", m) }
func (f *fakeEffect) Announce(m Mastership) error { return f.rec("announce", m) }
func (f *fakeEffect) Withdraw(m Mastership) error { return f.rec("withdraw", m) }
func (f *fakeEffect) Unclaim(m Mastership)        { f.rec("unclaim", m) }
func (f *fakeEffect) Close() error {
	f.j.add(f.name + " close")
	return nil
}

const twoInstances = `
instance "VI_1" {
  vrid     = 1
  version  = 3
  advert_interval = "10ms"
  vips     = [%s]
  priority = { n1 = 200, n2 = 100 }
}
instance "VI_2" {
  vrid     = 2
  version  = 3
  advert_interval = "1s" # a backup for the whole test
  vips     = ["192.0.2.12/24"]
  priority = { n1 = 50, n2 = 100 }
}
`

// Every registered effect hears each transition, in their order on the
// way up and in reverse on the way down; claims come once per apply,
// before any instance can assert.
func TestEffectsRunInOrder(t *testing.T) {
	j := &journal{}
	r := newRigWith(t, newFakeAddrs(), Options{Effects: []Effect{&fakeEffect{name: "A", j: j}, &fakeEffect{name: "B", j: j}}})
	if err := r.e.Apply(nodeConfig(t, sprintf(twoInstances, `"192.0.2.11/24"`))); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	r.waitState(t, "VI_2", "BACKUP")
	want := []string{
		"A policy 2", "B policy 2",
		"A claim VI_1,VI_2", "B claim VI_1,VI_2",
		"A assert VI_1 192.0.2.11/24", "B assert VI_1 192.0.2.11/24",
		"A announce VI_1 192.0.2.11/24", "B announce VI_1 192.0.2.11/24",
	}
	if diff := cmp.Diff(want, j.take()); diff != "" {
		t.Errorf("start (-want +got):\n%s", diff)
	}

	// An in-place change: the master withdraws what went and asserts the
	// new set; the effects forget what went.
	if err := r.e.Apply(nodeConfig(t, sprintf(twoInstances, `"192.0.2.21/24"`))); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"A policy 2", "B policy 2",
		"A claim VI_1", "B claim VI_1",
		"B withdraw VI_1 192.0.2.11/24", "A withdraw VI_1 192.0.2.11/24",
		"A assert VI_1 192.0.2.21/24", "B assert VI_1 192.0.2.21/24",
		"A announce VI_1 192.0.2.21/24", "B announce VI_1 192.0.2.21/24",
		"A unclaim VI_1 192.0.2.11/24", "B unclaim VI_1 192.0.2.11/24",
	}
	if diff := cmp.Diff(want, j.take()); diff != "" {
		t.Errorf("in-place change (-want +got):\n%s", diff)
	}

	if err := r.e.SetFault("VI_1", fsm.FaultCheck, "test", true, "test fault"); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "FAULT")
	want = []string{"B withdraw VI_1 192.0.2.21/24", "A withdraw VI_1 192.0.2.21/24"}
	if diff := cmp.Diff(want, j.take()); diff != "" {
		t.Errorf("fault (-want +got):\n%s", diff)
	}

	r.e.Shutdown()
	got := j.take()
	want = []string{
		"A unclaim VI_1 192.0.2.21/24", "B unclaim VI_1 192.0.2.21/24",
		"A unclaim VI_2 192.0.2.12/24", "B unclaim VI_2 192.0.2.12/24",
		"B close", "A close",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stop (-want +got):\n%s", diff)
	}
}

// One effect failing is logged, once, with its name; the others still
// run, and the instance is master (its addresses are on) regardless.
func TestEffectFailureIsJoinedAndLogged(t *testing.T) {
	j := &journal{}
	addrs := newFakeAddrs()
	r := newRigWith(t, addrs, Options{Effects: []Effect{&fakeEffect{name: "A", j: j, fail: "assert"}, &fakeEffect{name: "B", j: j}}})
	if err := r.e.Apply(nodeConfig(t, sprintf(twoInstances, `"192.0.2.11/24"`))); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	if !slices.Contains(j.take(), "B assert VI_1 192.0.2.11/24") {
		t.Error("B was not asserted after A failed")
	}
	if !addrs.has("eth0 192.0.2.11/24") {
		t.Error("the address effect did not run")
	}
	log := r.log.String()
	if n := strings.Count(log, "VI_1 refused by the fake: effect=A"); n != 1 {
		t.Errorf("A's failure logged %d times, want once:\n%s", n, log)
	}
}

// An address that cannot be added is logged with the words an operator
// greps for, and the announcements still go out.
func TestAddressFailureLogged(t *testing.T) {
	addrs := newFakeAddrs()
	addrs.failAdd = map[string]bool{"eth0 192.0.2.11/24": true}
	r := newRig(t, addrs)
	if err := r.e.Apply(nodeConfig(t, sprintf(twoInstances, `"192.0.2.11/24", "192.0.2.31/24"`))); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "VI_1", "MASTER")
	r.e.Status() // a loop round: the takeover's log lines are written
	if log := r.log.String(); !strings.Contains(log, "VI_1 cannot add VIP 192.0.2.11/24 on eth0: operation not permitted: effect=addresses") {
		t.Errorf("no line for the failed address:\n%s", log)
	}
	if !addrs.has("eth0 192.0.2.31/24") {
		t.Error("the other address was not added")
	}
	if r.ann.count() == 0 {
		t.Error("no announcement after a failed address")
	}
}
