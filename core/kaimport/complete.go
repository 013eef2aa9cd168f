package kaimport

import (
	"slices"
	"strings"
	"time"
)

// complete applies, once the whole file is read, the rules by which
// keepalived completes an instance (vrrp_complete_instance): settings it
// derives, clears or resets, each with a warning that says what keepalived
// does, so that the policy behaves as keepalived ran the file instead of
// refusing what keepalived runs.
func (c *converter) complete(nc *nodeConf, in *instance) {
	_, strict := nc.global["vrrp_strict"]
	if in.strict != nil {
		strict = *in.strict
	}
	c.version(nc, in, strict)
	c.preemption(in, strict)
	c.completeHMAC(in, strict)
	c.auth(in, strict, in.version3(nc))
	c.advertInt(in, in.version3(nc))
	if strict && !in.version3(nc) && in.accept != nil {
		if *in.accept && in.prio != 255 {
			c.warnAt(in.at, "%s: accept with vrrp_strict on VRRPv2: keepalived resets accept mode (\"does not comply with RFC3768\"); imported without it", in.name)
		}
		in.accept = nil // strict's default is keepalived's: off, on for the owner
	}
	if strict && len(in.unicastPeers) > 0 {
		off := false
		in.strict = &off
		c.warnAt(in.at, "%s: unicast_peer with vrrp_strict: keepalived refuses the instance on an interface with multicast (\"Unicast peers are not supported in strict mode\") and runs it unicast on one without; imported with strict = false, as it runs there", in.name)
	}
	for i, p := range in.unicastPeers {
		if cut := strings.IndexAny(p, "/-"); cut > 0 {
			in.unicastPeers[i] = p[:cut]
			c.warnAt(in.at, "%s: unicast_peer %s: keepalived reads the address and ignores the rest; imported as %s", in.name, p, p[:cut])
		}
	}
	in.tracks = slices.DeleteFunc(in.tracks, func(t string) bool {
		if nc.scripts[t] != nil {
			return false
		}
		c.warnAt(in.trackAt[t], "%s: track_script %s names no vrrp_script: keepalived ignores it (\"not found, ignoring\"); not imported either", in.name, t)
		return true
	})
}

// family6 reports whether the instance's first VIP, which sets keepalived's
// instance family, is IPv6.
func (in *instance) family6() bool {
	if len(in.vips) == 0 {
		return false
	}
	return strings.Contains(in.vips[0].addr, ":")
}

// version3 reports whether the instance runs VRRPv3: its own version, else
// the global vrrp_version, else 2.
func (in *instance) version3(nc *nodeConf) bool {
	if in.version != 0 {
		return in.version == 3
	}
	v := nc.global["vrrp_version"]
	return len(v) > 0 && v[0] == "3"
}

// version: IPv6 addresses take VRRPv3 unless an instance says 2 outside
// strict mode (keepalived then runs v2 over IPv6, which Vigil does not).
func (c *converter) version(nc *nodeConf, in *instance, strict bool) {
	if !in.family6() {
		return
	}
	switch {
	case in.version == 0 && !in.version3(nc):
		in.version = 3
		c.warnAt(in.at, "%s: IPv6 addresses and no version 3: keepalived runs IPv6 instances as VRRPv3 whatever vrrp_version says; imported with version = 3", in.name)
	case in.version == 2 && strict:
		in.version = 3
		c.warnAt(in.at, "%s: IPv6 addresses with version 2 in strict mode: keepalived sets version 3 (\"cannot use IPv6 with VRRP version 2\"); imported so", in.name)
	case in.version == 2:
		c.warnAt(in.at, "%s: IPv6 addresses with version 2: keepalived sends VRRPv2 over IPv6, outside both RFCs; Vigil speaks VRRPv3 for IPv6, so the policy refuses it: set version = 3 on every node", in.name)
	}
}

// auth: keepalived ignores authentication in strict mode and in VRRPv3.
func (c *converter) auth(in *instance, strict, v3 bool) {
	if in.authType == "" {
		return
	}
	at := in.authAt
	if at == "" {
		at = in.at
	}
	switch {
	case strict:
		c.warnAt(at, "%s: authentication with vrrp_strict: keepalived ignores it (\"Strict mode does not support authentication\") and sends adverts without; imported without it", in.name)
	case v3:
		c.warnAt(at, "%s: authentication on VRRPv3: keepalived ignores it (\"VRRP version 3 does not support authentication\"); imported without it", in.name)
	case in.authType == "pass" && in.authPass == "":
		c.warnAt(at, "%s: auth_type PASS without auth_pass: keepalived ignores the authentication (\"Authentication specified but no password given\"); imported without it", in.name)
	case in.authType == "ah":
		c.warnAt(in.ahAt, "auth_type AH is refused: Vigil does not implement IPsec AH (removed from VRRP by RFC 3768); the policy keeps it so that validation stops there. Use PASS, or VRRPv3 on a segment you control")
		return
	default:
		return
	}
	in.authType, in.authPass = "", ""
}

// advertInt: VRRPv2 carries whole seconds, 1 to 255; keepalived rounds a
// fraction to the nearest second (at least 1) and caps the rest at 255.
func (c *converter) advertInt(in *instance, v3 bool) {
	if v3 || in.advert == "" {
		return
	}
	d, err := time.ParseDuration(in.advert)
	if err != nil {
		return // validation says why at its line
	}
	r := max((d+time.Second/2)/time.Second*time.Second, time.Second)
	switch {
	case d >= 256*time.Second:
		r = 255 * time.Second
	case d%time.Second == 0:
		return
	}
	c.warnAt(in.at, "%s: advert_int %s on VRRPv2: keepalived sets %s (v2 carries whole seconds, 1 to 255); imported so", in.name, in.advert, r)
	in.advert = seconds(strings.TrimSuffix(r.String(), "s"))
}

// preemption applies keepalived's rules for settings it clears: an
// address owner and an initial MASTER always preempt; an initial MASTER,
// strict mode and an instance that does not preempt have no preemption
// delay.
func (c *converter) preemption(in *instance, strict bool) {
	switch {
	case in.nopreempt && in.prio == 255:
		in.nopreempt = false
		c.warnAt(in.at, "%s: nopreempt with priority 255: keepalived resets nopreempt (the address owner always preempts); imported so", in.name)
	case in.nopreempt && in.initMaster:
		in.nopreempt = false
		c.warnAt(in.at, "%s: nopreempt with state MASTER: keepalived clears nopreempt (\"nopreempt will not work with initial state MASTER\") and this node preempts; imported so", in.name)
	}
	switch {
	case in.preemptDelay == "":
	case in.initMaster:
		in.preemptDelay = ""
		c.warnAt(in.at, "%s: preempt_delay with state MASTER: keepalived clears the delay; imported so", in.name)
	case strict:
		in.preemptDelay = ""
		c.warnAt(in.at, "%s: preempt_delay with vrrp_strict: keepalived resets the delay (\"incompatible with strict mode\"); imported so", in.name)
	case in.nopreempt:
		in.preemptDelay = ""
		c.warnAt(in.at, "%s: preempt_delay with nopreempt: keepalived resets the delay; imported so", in.name)
	}
}
