package policy

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/vrrp"
)

// hmac resolves an instance's signed adverts: its own hmac block, else
// the site's. It runs after strict, which it overrides (strict forces
// enforce, as keepalived's strict_mode does).
func (b *builder) hmac(in *instanceBlock, out *config.Instance) {
	h := in.HMAC
	if h == nil {
		h = b.site.HMAC
	}
	if h == nil {
		return
	}
	if in.Auth != nil && in.HMAC != nil {
		b.err(in.Auth.DefRange, "Both auth and hmac", "An instance's adverts carry a password or an HMAC, not both (keepalived drops the password when auth_hmac is set). Remove the auth block.")
		return
	}
	if in.Auth != nil {
		return // the instance's own password beats the site's hmac
	}
	base, ok := b.hmacs[h]
	if !ok {
		// Once per block: the site's serves every instance, its key files
		// read and its mistakes reported once.
		base = b.hmacBlock(h)
		if b.hmacs == nil {
			b.hmacs = map[*hmacBlock]config.HMAC{}
		}
		b.hmacs[h] = base
	}
	cfg := base
	if out.Strict && cfg.Mode != vrrp.HMACEnforce {
		b.warn(attrRange(h.Body, "mode", h.DefRange), "strict forces enforce", "mode = %q is ignored under strict = true, as keepalived's strict_mode ignores it: this instance signs every advert and accepts only signed ones.", *h.Mode)
		cfg.Mode = vrrp.HMACEnforce
	}
	if h.TimeWindow == nil {
		cfg.Window = vrrp.DefaultWindow(out.Interval)
	}
	out.HMAC = &cfg
}

// hmacBlock is what an hmac block says, whichever instance uses it.
func (b *builder) hmacBlock(h *hmacBlock) config.HMAC {
	cfg := config.HMAC{Keys: map[uint8]config.Secret{}}
	for _, k := range h.Keys {
		if k.ID < 1 || k.ID > 255 {
			b.err(attrRange(k.Body, "id", k.DefRange), "Invalid key id", "id = %d: key ids are 1 to 255.", k.ID)
			continue
		}
		if _, dup := cfg.Keys[uint8(k.ID)]; dup {
			b.err(attrRange(k.Body, "id", k.DefRange), "Duplicate key id", "Key %d is defined twice in this hmac block. Give each key its own id.", k.ID)
			continue
		}
		if secret, ok := b.hmacSecret(k); ok {
			cfg.Keys[uint8(k.ID)] = secret
			cfg.Inline = cfg.Inline || k.Secret != nil
		}
	}
	if len(h.Keys) == 0 {
		b.err(h.DefRange, "No key", "An hmac block needs at least one key { id = 1, secret = \"hex:...\" }.")
	}
	switch {
	case h.ActiveKey == nil:
		b.err(h.DefRange, "No active_key", "Set active_key to the id of the key adverts are signed with (keepalived has no default either).")
	case *h.ActiveKey < 1 || *h.ActiveKey > 255:
		b.err(attrRange(h.Body, "active_key", h.DefRange), "Invalid active_key", "active_key = %d: key ids are 1 to 255.", *h.ActiveKey)
	default:
		cfg.ActiveKey = uint8(*h.ActiveKey)
		if !b.hmacDefines(h, *h.ActiveKey) {
			// keepalived would run the instance unauthenticated.
			b.err(attrRange(h.Body, "active_key", h.DefRange), "Undefined active_key", "No key has id %d. Add key { id = %d ... }, or set active_key to a defined key's id.", *h.ActiveKey, *h.ActiveKey)
		}
	}
	switch *h.Mode {
	case "enforce":
		cfg.Mode = vrrp.HMACEnforce
	case "permissive":
		cfg.Mode = vrrp.HMACPermissive
	case "receive-only":
		cfg.Mode = vrrp.HMACReceiveOnly
	default:
		b.err(attrRange(h.Body, "mode", h.DefRange), "Invalid mode", "mode = %q: use \"enforce\", \"permissive\" or \"receive-only\".", *h.Mode)
	}
	switch *h.AntiReplay {
	case "time":
		cfg.AntiReplay = vrrp.ReplayTime
	case "monotonic":
		cfg.AntiReplay = vrrp.ReplayMonotonic
	default:
		b.err(attrRange(h.Body, "anti_replay", h.DefRange), "Invalid anti_replay", "anti_replay = %q: use \"time\" or \"monotonic\".", *h.AntiReplay)
	}
	if h.TimeWindow != nil {
		d, ok := b.duration(h.Body, "time_window", h.TimeWindow, h.DefRange)
		if ok && (d < time.Second || d > vrrp.MaxWindow || d%time.Second != 0) {
			b.err(attrRange(h.Body, "time_window", h.DefRange), "Invalid time_window", "time_window = %q: whole seconds from 1s to 300s.", *h.TimeWindow)
		}
		cfg.Window = d
	}
	return cfg
}

func (b *builder) hmacDefines(h *hmacBlock, id int) bool {
	for _, k := range h.Keys {
		if k.ID == id {
			return true
		}
	}
	return false
}

// hmacSecret reads a key's bytes from secret or secret_file, in
// keepalived's forms: "hex:" and hex digits, or the text itself.
func (b *builder) hmacSecret(k hmacKeyBlock) (config.Secret, bool) {
	var text string
	rng := attrRange(k.Body, "secret", k.DefRange)
	switch {
	case (k.Secret == nil) == (k.SecretFile == nil):
		b.err(k.DefRange, "secret or secret_file", "Key %d needs one of secret = \"...\" or secret_file = \"...\".", k.ID)
		return nil, false
	case k.Secret != nil:
		text = *k.Secret
	default:
		rng = attrRange(k.Body, "secret_file", k.DefRange)
		path := *k.SecretFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(b.path), path)
		}
		fi, err := os.Stat(path)
		if err == nil && fi.Size() > 4+2*vrrp.MaxKeyLen+8 {
			b.err(rng, "Key file too large", "%s holds %d bytes; a key is at most %d bytes (%d in hex).", path, fi.Size(), vrrp.MaxKeyLen, 2*vrrp.MaxKeyLen)
			return nil, false
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			b.err(rng, "Cannot read key file", "%v. The agent reads it at start and reload; vigil plan and vigil check need to read it too.", err)
			return nil, false
		}
		if fi.Mode().Perm()&0o007 != 0 {
			b.warn(rng, "Key file readable by others", "%s has mode %v: every user of this machine can read it, and anyone who can read it can sign adverts. chmod o-rwx it; the agent (user vigil) reads it: root:vigil 0640, as the package installs the policy.", path, fi.Mode().Perm())
		}
		text = strings.TrimRight(string(raw), "\r\n")
	}
	key, err := vrrp.KeyFromText(text)
	if err != nil {
		b.err(rng, "Invalid hex key", "Key %d: what follows \"hex:\" is not hex digits (%d characters). Write \"hex:\" and pairs of 0-9a-f, as keepalived reads them.", k.ID, len(text)-4)
		return nil, false
	}
	if len(key) < vrrp.MinKeyLen || len(key) > vrrp.MaxKeyLen {
		b.err(rng, "Key length", "Key %d is %d bytes; keys are %d to %d bytes (keepalived's limits). `openssl rand -hex 32` makes one: secret = \"hex:\" and its output.", k.ID, len(key), vrrp.MinKeyLen, vrrp.MaxKeyLen)
		return nil, false
	}
	return config.Secret(key), true
}
