// Package safetext makes text from outside the agent (a plugin's
// messages and log lines, a status document read back from a socket) safe
// to log and print: one line, control characters escaped, bounded, so
// that it cannot forge a log line or drive a terminal.
package safetext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean makes s safe to log: one line, control characters escaped (as Go
// quotes them), at most max bytes with a marker when cut.
func Clean(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			b.WriteString("…(truncated)")
			break
		}
		switch {
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
