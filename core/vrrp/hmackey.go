package vrrp

import (
	"errors"
	"strings"
)

// KeyFromText decodes an auth_hmac key as keepalived reads one: "hex:"
// and hex digits, or the text itself. keepalived's hex reader takes the
// digits in pairs, skips spaces and tabs between bytes, and makes a lone
// digit (before a space or the end) a byte of its own: "hex:a0 b c1" is
// a0 0b c1. The one rule for the policy and the import.
func KeyFromText(s string) ([]byte, error) {
	h, ok := strings.CutPrefix(s, "hex:")
	if !ok {
		return []byte(s), nil
	}
	var out []byte
	for i := 0; i < len(h); {
		if h[i] == ' ' || h[i] == '\t' {
			i++
			continue
		}
		hi, ok := hexDigit(h[i])
		if !ok {
			return nil, errHexKey
		}
		i++
		if i == len(h) || h[i] == ' ' {
			out = append(out, hi)
			continue
		}
		lo, ok := hexDigit(h[i])
		if !ok {
			return nil, errHexKey
		}
		i++
		out = append(out, hi<<4|lo)
	}
	if len(out) == 0 {
		return nil, errHexKey
	}
	return out, nil
}

var errHexKey = errors.New("not hex digits")

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
