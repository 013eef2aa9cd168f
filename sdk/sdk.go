// Package sdk is what a Vigil plugin is written against: three small
// interfaces (Check, Notifier, Action) on a common Base, plain Go types at
// the boundary, and Serve to run a plugin as its own process. The agent
// talks to plugins over hashicorp/go-plugin and gRPC; nothing here exposes
// either.
package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Kind is what a plugin does for the agent.
type Kind string

const (
	KindCheck    Kind = "check"
	KindNotifier Kind = "notifier"
	KindAction   Kind = "action"
)

// Info identifies a plugin. The agent checks Name and Kind against what the
// policy asked for before it uses a plugin.
type Info struct {
	Name    string
	Kind    Kind
	Version string
}

// Base is what every plugin implements.
type Base interface {
	// Info describes the plugin.
	Info(ctx context.Context) (Info, error)
	// Configure receives the policy's config block, decoded from JSON into
	// plain values (string, float64, bool, []any, map[string]any). It
	// returns ConfigErrors for settings it refuses, so that the policy's
	// diagnostics can point at the attribute.
	Configure(ctx context.Context, config map[string]any) error
}

// Result is one health check outcome.
type Result struct {
	Healthy bool
	Message string // why, in a few words: "no nginx master process"
	// Value, when set, is a number the check read (keepalived's
	// track_file): the instance's priority moves by Value times the
	// check's weight, and with weight 0 a Value other than 0 is a fault.
	// Healthy still says whether the check could read it.
	Value *int64
}

// Check reports the health of a service.
type Check interface {
	Base
	// Check runs the check once. An error counts as a failed check.
	Check(ctx context.Context) (Result, error)
}

// Watcher is implemented by checks that can push results the moment they
// change (an exited process, a closed socket) instead of waiting to be
// polled. Watch reports every result through report until ctx ends.
type Watcher interface {
	Watch(ctx context.Context, report func(Result)) error
}

// Event is a state change of a VRRP instance.
type Event struct {
	Seq      uint64 // increases by one per event on a node; a notifier may see one twice, never out of order
	Site     string
	Node     string
	RouterID string
	Instance string
	// Group is set, and Instance empty, when a sync group as a whole
	// changes state (keepalived's GROUP notifications): MASTER once every
	// member is MASTER, FAULT while one is in FAULT, BACKUP otherwise,
	// INIT when the node stops.
	Group    string
	From, To string // INIT, BACKUP, MASTER, FAULT
	Reason   string
	Time     time.Time
	// Priority is the instance's effective priority on this node then
	// (the policy's plus the weights of what it tracks), as keepalived's
	// notify scripts get it; 0 for a sync group.
	Priority int
	VIPs     []string
	// PriorityChange marks an event that is not a change of state but of
	// effective priority, in state To (From is To). Notifiers get these
	// only from instances whose policy sets notify_priority_changes; a
	// notifier that has nothing to say about them returns nil.
	PriorityChange bool
}

// Notifier tells people or systems about state changes.
type Notifier interface {
	Base
	// Notify delivers one event; an error makes the agent keep the event
	// and retry it later.
	Notify(ctx context.Context, ev Event) error
}

// Outcome is how a recovery action ended.
type Outcome string

const (
	// Recovered: the service is healthy again; nothing moves.
	Recovered Outcome = "recovered"
	// Yield: the service cannot be recovered here; the instances give up
	// their addresses until the check passes again.
	Yield Outcome = "yield"
)

// Trigger says why an action runs.
type Trigger struct {
	Check     string // the failing check
	Node      string
	Instances []string // the instances that yield if the action does
	Reason    string   // the check's last message
	// CheckConfig is the failing check's config block, so that an action
	// can act on what the check watches; nil when the check has none.
	CheckConfig map[string]any
}

// Action tries to recover a failed service.
type Action interface {
	Base
	Run(ctx context.Context, t Trigger) (Outcome, string, error)
}

// ConfigError is a setting a plugin refuses.
type ConfigError struct {
	Attribute string // "" when not about one attribute
	Message   string
}

// ConfigErrors is every setting a plugin refuses, reported at once.
type ConfigErrors []ConfigError

func (e ConfigErrors) Error() string {
	parts := make([]string, len(e))
	for i, c := range e {
		if c.Attribute != "" {
			parts[i] = c.Attribute + ": " + c.Message
		} else {
			parts[i] = c.Message
		}
	}
	return "invalid config: " + strings.Join(parts, "; ")
}

// DecodeConfig converts a config map into a struct through JSON, rejecting
// unknown attributes by name; plugins call it from Configure. Durations can
// be decoded with the Duration type.
func DecodeConfig(config map[string]any, into any) error {
	b, err := json.Marshal(config)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		msg := err.Error()
		attr := ""
		if i := strings.Index(msg, "unknown field "); i >= 0 {
			attr = strings.Trim(msg[i+len("unknown field "):], `"`)
			msg = "not a setting of this plugin"
		} else if ute, ok := err.(*json.UnmarshalTypeError); ok {
			attr, msg = ute.Field, fmt.Sprintf("must be a %s", ute.Type)
		}
		return ConfigErrors{{Attribute: attr, Message: msg}}
	}
	return nil
}

// Duration is a time.Duration that decodes from "5s"-style strings.
type Duration time.Duration

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"5s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
