package pluginhost

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/safetext"
)

// What a plugin says (its log lines on stderr, its check messages, its
// action outcomes) reaches the agent's log and notifications. A plugin is
// not trusted with either: its text is made one line with control
// characters escaped, so it cannot forge an agent log line, it is cut to a
// bounded length, and its log lines are rate-limited.

// MaxMessage bounds a check message or an action's outcome text.
const MaxMessage = 512

// maxLogLine bounds one plugin log line.
const maxLogLine = 1024

// Clean is safetext.Clean: one line, control characters escaped, bounded.
func Clean(s string, max int) string { return safetext.Clean(s, max) }

// pluginLogLines is how many log lines a plugin may write per second; the
// rest are counted and the count is logged once lines flow again.
const pluginLogLines = 50

// pluginLogger wraps the logger go-plugin writes a plugin's stderr to.
type pluginLogger struct {
	hclog.Logger
	limit *lineLimit
}

type lineLimit struct {
	mu      sync.Mutex
	window  time.Time
	n       int
	dropped int
}

func newPluginLogger(l hclog.Logger) hclog.Logger {
	return &pluginLogger{Logger: l, limit: &lineLimit{}}
}

// allow reports whether a line may be written now, and how many were
// dropped before it.
func (ll *lineLimit) allow(now time.Time) (ok bool, dropped int) {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	if now.Sub(ll.window) >= time.Second {
		ll.window, ll.n = now, 0
	}
	if ll.n >= pluginLogLines {
		ll.dropped++
		return false, 0
	}
	ll.n++
	dropped, ll.dropped = ll.dropped, 0
	return true, dropped
}

func (p *pluginLogger) Log(level hclog.Level, msg string, args ...any) {
	ok, dropped := p.limit.allow(time.Now())
	if !ok {
		return
	}
	if dropped > 0 {
		p.Logger.Warn("plugin log lines dropped (over the rate limit)", "dropped", dropped, "limit_per_second", pluginLogLines)
	}
	clean := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			clean[i] = Clean(v, maxLogLine)
		case error:
			clean[i] = Clean(v.Error(), maxLogLine)
		case fmt.Stringer:
			clean[i] = Clean(v.String(), maxLogLine)
		default:
			clean[i] = a
		}
	}
	p.Logger.Log(level, Clean(msg, maxLogLine), clean...)
}

func (p *pluginLogger) Trace(msg string, args ...any) { p.Log(hclog.Trace, msg, args...) }
func (p *pluginLogger) Debug(msg string, args ...any) { p.Log(hclog.Debug, msg, args...) }
func (p *pluginLogger) Info(msg string, args ...any)  { p.Log(hclog.Info, msg, args...) }
func (p *pluginLogger) Warn(msg string, args ...any)  { p.Log(hclog.Warn, msg, args...) }
func (p *pluginLogger) Error(msg string, args ...any) { p.Log(hclog.Error, msg, args...) }

// With keeps the wrapper and its limit.
func (p *pluginLogger) With(args ...any) hclog.Logger {
	return &pluginLogger{Logger: p.Logger.With(args...), limit: p.limit}
}

// Named keeps the name the agent gave: go-plugin would add the binary's
// base name, which for a plugin run from its descriptor is "3".
func (p *pluginLogger) Named(string) hclog.Logger      { return p }
func (p *pluginLogger) ResetNamed(string) hclog.Logger { return p }
