package engine

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/vrrp"
)

// authFor is the advert authentication of an instance: the one place
// that maps the policy's to the codec's.
func authFor(cfg config.Instance, clock vrrp.Clock) (vrrp.Auth, error) {
	switch {
	case cfg.HMAC != nil:
		h := cfg.HMAC
		keys := make(map[uint8][]byte, len(h.Keys))
		for id, k := range h.Keys {
			keys[id] = k
		}
		return vrrp.NewHMAC(vrrp.HMACConfig{Keys: keys, ActiveKey: h.ActiveKey, Mode: h.Mode, AntiReplay: h.AntiReplay,
			Window: h.Window, Peers: cfg.UnicastPeers}, clock)
	case cfg.Version == vrrp.V2 && cfg.Auth.Type == vrrp.AuthPass:
		return vrrp.Password(cfg.Auth.Password), nil
	}
	return vrrp.NoAuth{}, nil
}

// setAuth gives the instance cfg's authentication, handing on prev's
// state (its sequence and replay marks) when both sign.
func (in *instance) setAuth(cfg config.Instance, prev vrrp.Auth) {
	a, err := authFor(cfg, in.env.clock)
	if err != nil {
		// The policy checks what NewHMAC does; refuse rather than run
		// unauthenticated, as keepalived would.
		in.log.Error(cfg.Name+" authentication not usable, sending and accepting no advert", "error", err)
		a = refuseAll{err}
	}
	if h, ok := a.(*vrrp.HMAC); ok {
		h.OnSkew = func(src netip.Addr, skew time.Duration) {
			in.logLimited(in.env.now(), "auth_skew", fmt.Sprintf("%s authentication clock skew from %v approaching the window", cfg.Name, src),
				"skew", skew, "window", cfg.HMAC.Window)
		}
	}
	in.auth = a
	in.inheritAuth(prev)
	in.mu.Lock()
	in.status.Auth = cfg.AuthName()
	in.mu.Unlock()
}

// inheritAuth hands prev's state to the instance's authentication.
func (in *instance) inheritAuth(prev vrrp.Auth) {
	if h, ok := in.auth.(*vrrp.HMAC); ok && prev != nil {
		h.Inherit(prev)
	}
}

// refuseAll is an authentication that could not be built.
type refuseAll struct{ err error }

func (r refuseAll) Sign(*vrrp.Advert, netip.Addr) error { return r.err }
func (r refuseAll) Check(*vrrp.Advert, netip.Addr) error {
	return fmt.Errorf("%w: %v", vrrp.ErrAuth, r.err)
}
