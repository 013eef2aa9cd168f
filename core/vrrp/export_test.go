package vrrp

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/netip"
)

// HMACInput is what the HMAC of a signed advert a from src covers.
func HMACInput(a *Advert, src netip.Addr) []byte { return appendHMACInput(nil, a, src) }

// MACOf is the trailer MAC of a from src under key, computed afresh.
func MACOf(key []byte, a *Advert, src netip.Addr) (out [MACLen]byte) {
	m := hmac.New(sha256.New, key)
	m.Write(HMACInput(a, src))
	copy(out[:], m.Sum(nil))
	return out
}
