package api

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Line is one line of a state dump: a message and key-value pairs, as the
// agent logs it on SIGUSR1 and `vigil status --dump` prints it.
type Line struct {
	Msg string
	KV  []any
}

// String renders the line as hclog's text format does: msg: k=v k=v.
func (l Line) String() string {
	var b strings.Builder
	b.WriteString(l.Msg)
	for i := 0; i+1 < len(l.KV); i += 2 {
		if i == 0 {
			b.WriteString(":")
		}
		v := fmt.Sprint(l.KV[i+1])
		if v == "" || strings.ContainsAny(v, " \t\"=") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, " %v=%s", l.KV[i], v)
	}
	return b.String()
}

// Dump is the whole state, one line per instance, tracked source, check
// and notifier: what keepalived users get from SIGUSR1.
func (s Status) Dump() []Line {
	out := []Line{{"state dump", []any{"site", s.Site, "node", s.Node, "policy", s.Policy, "instances", len(s.Instances)}}}
	for _, in := range s.Instances {
		kv := []any{"state", in.State, "since", in.Since.Format(time.RFC3339), "interface", in.Interface, "vrid", in.VRID,
			"priority", in.Priority, "base_priority", in.BasePriority, "vips", strings.Join(in.VIPs, ","), "transitions", in.Transitions}
		if in.VMAC != "" {
			kv = append(kv, "vmac", in.VMAC)
		}
		if in.Auth != "" && in.Auth != "none" {
			kv = append(kv, "auth", in.Auth)
		}
		if in.Master != "" {
			kv = append(kv, "master", in.Master, "master_priority", in.MasterPriority)
		}
		if in.LastTakeover > 0 {
			kv = append(kv, "last_takeover", in.LastTakeover)
		}
		for _, k := range slices.Sorted(mapKeys(in.Counters)) {
			kv = append(kv, k, in.Counters[k])
		}
		out = append(out, Line{in.Name, kv})
		for _, src := range slices.Sorted(mapKeys(in.Tracking)) {
			t := in.Tracking[src]
			out = append(out, Line{in.Name + " tracks " + src, []any{"state", t.State(), "when_down", t.Effect()}})
		}
	}
	for _, c := range s.Checks {
		state := "passing"
		if c.Failing {
			state = "failing"
		}
		kv := []any{"state", state, "plugin", c.Plugin, "pid", c.Pid, "restarts", c.Restarts}
		if c.LastDuration > 0 {
			kv = append(kv, "last_duration", c.LastDuration.Round(time.Microsecond))
		}
		if c.Message != "" {
			kv = append(kv, "message", c.Message)
		}
		if c.LastError != "" {
			kv = append(kv, "last_error", c.LastError)
		}
		out = append(out, Line{"check " + c.Name, kv})
	}
	for _, n := range s.Notifiers {
		kv := []any{"plugin", n.Plugin, "pending", n.Pending, "oldest", n.Oldest.Round(time.Millisecond), "pid", n.Pid, "restarts", n.Restarts}
		if n.LastError != "" {
			kv = append(kv, "last_error", n.LastError)
		}
		out = append(out, Line{"notifier " + n.Name, kv})
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
