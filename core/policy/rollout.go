package policy

import (
	"crypto/subtle"
	"fmt"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/vrrp"
)

// Rollout is one instance's change of authentication between two
// policies, deployed node by node: while some nodes run the old policy
// and some the new, do they still hear each other?
type Rollout struct {
	Instance string `json:"instance"`
	From     string `json:"from"`
	To       string `json:"to"`
	Safe     bool   `json:"safe"`
	Why      string `json:"why"`
}

// RolloutFrom checks the change from old to s for every instance both
// run. A node refusing its peers' adverts during the rollout becomes a
// second master: the recipe (docs/migrating.md) is receive-only on every
// node, then permissive, then enforce.
func (s *Site) RolloutFrom(old *Site) []Rollout {
	var out []Rollout
	for _, si := range s.instances {
		now, was := s.instance(si.Name), old.instance(si.Name)
		if now == nil || was == nil {
			continue
		}
		r := Rollout{Instance: si.Name, From: was.AuthName(), To: now.AuthName(), Safe: true}
		switch {
		case !hears(now, was, &r.Why):
			r.Safe, r.Why = false, "nodes on the new policy refuse adverts from nodes still on the old one: "+r.Why
		case !hears(was, now, &r.Why):
			r.Safe, r.Why = false, "nodes still on the old policy refuse adverts from nodes on the new one: "+r.Why
		default:
			r.Why = "nodes on either policy accept each other's adverts"
		}
		if !r.Safe {
			r.Why += "; step through receive-only and permissive, one policy at a time on every node (docs/migrating.md)"
		}
		out = append(out, r)
	}
	return out
}

// hears reports whether an instance configured as rx accepts the adverts
// of one configured as tx; why says why not.
func hears(rx, tx *config.Instance, why *string) bool {
	signed := tx.HMAC != nil && tx.HMAC.Mode != vrrp.HMACReceiveOnly
	pass := tx.HMAC == nil && tx.Version == vrrp.V2 && tx.Auth.Type == vrrp.AuthPass
	switch {
	case rx.HMAC == nil && signed:
		*why = "an instance without hmac refuses signed adverts (keepalived counts them as the wrong length)"
	case rx.HMAC == nil:
		rxPass := rx.Version == vrrp.V2 && rx.Auth.Type == vrrp.AuthPass
		if rxPass != pass || (pass && rx.Auth.Password != tx.Auth.Password) {
			*why = "the passwords differ"
			return false
		}
		return true
	case signed:
		k, ok := rx.HMAC.Keys[tx.HMAC.ActiveKey]
		switch {
		case !ok:
			*why = fmt.Sprintf("adverts are signed with key %d, which the receivers do not hold", tx.HMAC.ActiveKey)
		case subtle.ConstantTimeCompare(k, tx.HMAC.Keys[tx.HMAC.ActiveKey]) != 1:
			*why = fmt.Sprintf("key %d differs between the policies", tx.HMAC.ActiveKey)
		default:
			return true
		}
	case pass:
		*why = "an hmac instance refuses a VRRPv2 password (keepalived drops the password with auth_hmac)"
	case rx.HMAC.Mode == vrrp.HMACEnforce:
		*why = "enforce refuses unsigned adverts"
	default:
		return true
	}
	return false
}
