package vrrp

import (
	"crypto/subtle"
	"fmt"
	"net/netip"
)

// Auth is how one instance authenticates its adverts. The engine picks one
// per instance and goes through it alone, so a new kind is one new
// implementation, not a change to Advert, Verify and the engine.
//
// Sign sets the advert's authentication (VRRPv2's fields, or a trailer)
// before it is encoded, as sent from src; Advert encodes whatever it set.
// Check, called by Verify in RFC 3768 §7.1's order, checks a decoded
// advert received from src. Either may keep state (HMAC's sequence).
type Auth interface {
	Sign(a *Advert, src netip.Addr) error
	Check(a *Advert, src netip.Addr) error
}

// NoAuth is no authentication: VRRPv3's only kind, VRRPv2's auth type 0.
type NoAuth struct{}

func (NoAuth) Sign(a *Advert, _ netip.Addr) error {
	a.AuthType, a.Password, a.Signed = AuthNone, [8]byte{}, false
	return nil
}

// Check refuses a VRRPv2 advert that carries an auth type (RFC 3768 §7.1:
// the types must match), and a signed advert.
func (NoAuth) Check(a *Advert, _ netip.Addr) error {
	if a.Version == V2 && a.AuthType != AuthNone {
		return fmt.Errorf("%w: got %v, want %v", ErrAuthType, a.AuthType, AuthNone)
	}
	return refuseSigned(a)
}

// refuseSigned refuses an HMAC-signed advert at an instance without keys,
// as another type of authentication.
func refuseSigned(a *Advert) error {
	if a.Signed {
		return fmt.Errorf("%w: signed (HMAC trailer), this instance has no auth_hmac", ErrAuthType)
	}
	return nil
}

// Password is VRRPv2's simple text password (auth type 1, keepalived's
// auth_type PASS): 8 bytes, zero-padded, in clear on the wire. It proves
// nothing against anyone who can see one advert.
type Password [8]byte

// NewPassword is p zero-padded; as keepalived does, bytes past 8 are
// dropped.
func NewPassword(p string) Password {
	var pw Password
	copy(pw[:], p)
	return pw
}

func (p Password) Sign(a *Advert, _ netip.Addr) error {
	a.AuthType, a.Password, a.Signed = AuthPass, p, false
	return nil
}

func (p Password) Check(a *Advert, _ netip.Addr) error {
	if a.AuthType != AuthPass {
		return fmt.Errorf("%w: got %v, want %v", ErrAuthType, a.AuthType, AuthPass)
	}
	if subtle.ConstantTimeCompare(a.Password[:], p[:]) != 1 {
		return fmt.Errorf("%w: wrong password", ErrAuth)
	}
	return refuseSigned(a)
}
