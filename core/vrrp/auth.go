package vrrp

import (
	"crypto/subtle"
	"fmt"
	"net/netip"
)

// Auth is how one instance authenticates its adverts. The engine picks one
// per instance and the codec's callers go through it alone, so a new kind
// (a signed trailer) is one new implementation, not a change to Advert,
// Verify and the engine.
//
// Sending: Fields sets the advert's own authentication fields before it
// is encoded, then Seal appends to the encoded message whatever goes
// after it. Receiving: Open checks and strips what Seal appended before
// the message is decoded; Check (called by Verify, in RFC 3768 §7.1's
// order) checks the decoded advert's own fields.
type Auth interface {
	Fields(a *Advert)
	Seal(msg []byte, src netip.Addr) ([]byte, error)
	Open(msg []byte, src netip.Addr) ([]byte, error)
	Check(a *Advert) error
}

// NoAuth is no authentication: VRRPv3's only kind, VRRPv2's auth type 0.
type NoAuth struct{}

func (NoAuth) Fields(a *Advert)                              { a.AuthType, a.Password = AuthNone, [8]byte{} }
func (NoAuth) Seal(msg []byte, _ netip.Addr) ([]byte, error) { return msg, nil }
func (NoAuth) Open(msg []byte, _ netip.Addr) ([]byte, error) { return msg, nil }

// Check refuses a VRRPv2 advert that carries an auth type (RFC 3768 §7.1:
// the types must match).
func (NoAuth) Check(a *Advert) error {
	if a.Version == V2 && a.AuthType != AuthNone {
		return fmt.Errorf("%w: got %v, want %v", ErrAuthType, a.AuthType, AuthNone)
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

func (p Password) Fields(a *Advert)                            { a.AuthType, a.Password = AuthPass, p }
func (Password) Seal(msg []byte, _ netip.Addr) ([]byte, error) { return msg, nil }
func (Password) Open(msg []byte, _ netip.Addr) ([]byte, error) { return msg, nil }

func (p Password) Check(a *Advert) error {
	if a.AuthType != AuthPass {
		return fmt.Errorf("%w: got %v, want %v", ErrAuthType, a.AuthType, AuthPass)
	}
	if subtle.ConstantTimeCompare(a.Password[:], p[:]) != 1 {
		return fmt.Errorf("%w: wrong password", ErrAuth)
	}
	return nil
}
