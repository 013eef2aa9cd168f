package vrrp

import (
	"errors"
	"fmt"
)

// Every way an advert can be refused, one sentinel per rule of RFC 5798 §7.1
// (and RFC 3768 §7.1 for auth), so that the engine can count each kind.
// Returned errors wrap these; match with errors.Is and label with Reason.
var (
	ErrShort      = errors.New("vrrp: packet too short")
	ErrVersion    = errors.New("vrrp: bad version")
	ErrType       = errors.New("vrrp: bad type")
	ErrChecksum   = errors.New("vrrp: bad checksum")
	ErrAddrCount  = errors.New("vrrp: address count does not match length")
	ErrAddrFamily = errors.New("vrrp: address of the wrong family")
	ErrAuth       = errors.New("vrrp: authentication mismatch")
	// ErrAuthType is an ErrAuth of another authentication type, counted
	// apart as keepalived does (authtype_mismatch against auth_failure).
	ErrAuthType = fmt.Errorf("%w: type differs", ErrAuth)
	// The auth_hmac outcomes, each counted apart as keepalived does.
	ErrAuthMissing    = fmt.Errorf("%w: no HMAC trailer", ErrAuth)
	ErrAuthMalformed  = fmt.Errorf("%w: malformed HMAC trailer", ErrAuth)
	ErrAuthStale      = fmt.Errorf("%w: stale HMAC trailer", ErrAuth)
	ErrAuthUnknownKey = fmt.Errorf("%w: unknown HMAC key", ErrAuth)
	ErrAuthHMAC       = fmt.Errorf("%w: invalid HMAC", ErrAuth)
	ErrAuthReplay     = fmt.Errorf("%w: replayed HMAC trailer", ErrAuth)
	ErrTTL            = errors.New("vrrp: TTL/hop limit is not 255 (or out of the unicast peers' range)")
	ErrInterval       = errors.New("vrrp: advertisement interval mismatch")
	ErrAddrList       = errors.New("vrrp: address list differs from ours")
	ErrSource         = errors.New("vrrp: source not allowed")
)

var reasons = []struct {
	err  error
	name string
}{
	{ErrShort, "short"}, {ErrVersion, "version"}, {ErrType, "type"},
	{ErrChecksum, "checksum"}, {ErrAddrCount, "addr_count"}, {ErrAddrFamily, "addr_family"},
	{ErrAuthType, "auth_type"}, {ErrAuthMissing, "auth_missing"}, {ErrAuthMalformed, "auth_malformed"},
	{ErrAuthStale, "auth_stale"}, {ErrAuthUnknownKey, "auth_unknown_key"}, {ErrAuthHMAC, "auth_hmac"},
	{ErrAuthReplay, "auth_replay"}, {ErrAuth, "auth"}, {ErrTTL, "ttl"}, {ErrInterval, "interval"}, {ErrAddrList, "addr_list"},
	{ErrSource, "source"},
}

// Reason names the rule err broke, as a short stable label for counters
// ("checksum", "auth", ...), or "other" for an error not from this package.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}
