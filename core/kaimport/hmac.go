package kaimport

import (
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ha/vigil/core/vrrp"
)

// hmacConf is a vrrp_instance's auth_hmac block as keepalived 2.4.3
// reads it.
type hmacConf struct {
	keys       []hmacKey
	active     int // 0: unset
	mode       string
	antiReplay string
	window     int // seconds, 0: derived
	at         string
}

// hmacKey is one key: its value inline ("hex:..." or text) or a file.
type hmacKey struct {
	id          int
	value, file string
}

// authHMAC reads an auth_hmac block, keeping what keepalived keeps: a
// value it refuses is left out with a warning saying so. Key values are
// never quoted in a warning.
func (c *converter) authHMAC(in *instance, o *Stmt) {
	if in.hmac != nil {
		c.warn(o, "%s: a second auth_hmac block: keepalived keeps the first; so does the import", in.name)
		return
	}
	h := &hmacConf{at: o.String()}
	in.hmac = h
	seen := map[int]bool{}
	for _, s := range o.Block {
		switch s.Key {
		case "key":
			id, err := strconv.Atoi(s.Arg(0))
			switch {
			case len(s.Args) < 2:
				c.warn(s, "%s: auth_hmac key needs an id and a value: keepalived refuses the line; so does the import", in.name)
			case err != nil || id < 1 || id > 255:
				c.warn(s, "%s: auth_hmac key id %q is not 1-255: keepalived refuses the key; so does the import", in.name, s.Arg(0))
			case seen[id]:
				c.warn(s, "%s: auth_hmac key %d defined twice: keepalived keeps the first; so does the import", in.name, id)
			default:
				k := hmacKey{id: id}
				if path, ok := strings.CutPrefix(s.Arg(1), "file:"); ok {
					k.file = path
				} else if n := keyLen(s.Arg(1)); n < 32 || n > 64 {
					c.warn(s, "%s: auth_hmac key %d is %d bytes: keepalived refuses keys outside 32-64 bytes; so does the import", in.name, id, n)
					continue
				} else {
					k.value = s.Arg(1)
				}
				seen[id] = true
				h.keys = append(h.keys, k)
			}
		case "active_key":
			if n, err := strconv.Atoi(s.Arg(0)); err == nil && n >= 1 && n <= 255 {
				h.active = n
			} else {
				c.warn(s, "%s: auth_hmac active_key %q is not 1-255: keepalived refuses it", in.name, s.Arg(0))
			}
		case "mode":
			if v := s.Arg(0); v == "enforce" || v == "permissive" || v == "receive-only" {
				h.mode = v
			} else {
				c.warn(s, "%s: auth_hmac mode %q: keepalived refuses it and keeps enforce; so does the import", in.name, v)
			}
		case "anti_replay":
			if v := s.Arg(0); v == "time" || v == "monotonic" {
				h.antiReplay = v
			} else {
				c.warn(s, "%s: auth_hmac anti_replay %q: keepalived refuses it and keeps time; so does the import", in.name, v)
			}
		case "time_window":
			if n, err := strconv.Atoi(s.Arg(0)); err == nil && n >= 1 && n <= 300 {
				h.window = n
			} else {
				c.warn(s, "%s: auth_hmac time_window %q is not 1-300 seconds: keepalived refuses it and derives the window from advert_int; so does the import", in.name, s.Arg(0))
			}
		default:
			c.warn(s, "%s: auth_hmac %s is not an auth_hmac keyword of keepalived 2.4.3; not imported", in.name, s.Key)
		}
	}
}

// keyLen is the length in bytes of an inline key, as keepalived decodes
// it.
func keyLen(v string) int {
	b, err := vrrp.KeyFromText(v)
	if err != nil {
		return 0 // keepalived's reader gives no bytes
	}
	return len(b)
}

// completeHMAC applies keepalived's rules for auth_hmac
// (vrrp_complete_instance): it replaces the password; an undefined
// active_key disables it; strict mode forces enforce.
func (c *converter) completeHMAC(in *instance, strict bool) {
	h := in.hmac
	if h == nil {
		return
	}
	if in.authType != "" {
		c.warnAt(h.at, "%s: auth_hmac with authentication: keepalived drops the password (\"auth_hmac cannot be combined with authentication\"); imported without it", in.name)
		in.authType, in.authPass = "", ""
	}
	if !slices.ContainsFunc(h.keys, func(k hmacKey) bool { return k.id == h.active }) {
		c.warnAt(h.at, "%s: auth_hmac whose active_key %d names no key: keepalived disables auth_hmac and runs the instance unauthenticated; imported without it. Define the key and set active_key to sign adverts", in.name, h.active)
		in.hmac = nil
		return
	}
	if strict && h.mode != "" && h.mode != "enforce" {
		c.warnAt(h.at, "%s: auth_hmac mode %s with strict mode: keepalived forces enforce; imported so", in.name, h.mode)
		h.mode = "enforce"
	}
}

// emitHMAC writes an instance's hmac block.
func emitHMAC(ib *hclwrite.Body, h *hmacConf) {
	ib.AppendNewline()
	hb := ib.AppendNewBlock("hmac", nil).Body()
	for _, k := range h.keys {
		kb := hb.AppendNewBlock("key", nil).Body()
		kb.SetAttributeValue("id", cty.NumberIntVal(int64(k.id)))
		if k.file != "" {
			kb.SetAttributeValue("secret_file", cty.StringVal(k.file))
		} else {
			kb.SetAttributeValue("secret", cty.StringVal(k.value))
		}
	}
	hb.SetAttributeValue("active_key", cty.NumberIntVal(int64(h.active)))
	if h.mode != "" && h.mode != "enforce" {
		hb.SetAttributeValue("mode", cty.StringVal(h.mode))
	}
	if h.antiReplay == "monotonic" {
		hb.SetAttributeValue("anti_replay", cty.StringVal(h.antiReplay))
	}
	if h.window != 0 {
		hb.SetAttributeValue("time_window", cty.StringVal(strconv.Itoa(h.window)+"s"))
	}
}

// sameHMAC reports whether two nodes' auth_hmac blocks say the same.
func sameHMAC(a, b *hmacConf) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	if a == nil {
		return true
	}
	if a.active != b.active || a.mode != b.mode || a.antiReplay != b.antiReplay || a.window != b.window || len(a.keys) != len(b.keys) {
		return false
	}
	for i := range a.keys {
		if a.keys[i] != b.keys[i] {
			return false
		}
	}
	return true
}
