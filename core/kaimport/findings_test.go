package kaimport_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/core/kaimport"
	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/plugins/builtin"
)

// importText converts keepalived texts, one per node name ("" for a
// per-node file), and returns the policy, its warnings joined, and the
// error.
func importText(t *testing.T, confs map[string]string) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	var nodes []kaimport.Node
	for _, name := range []string{"", "lb01", "lb02", "lb03"} {
		src, ok := confs[name]
		if !ok {
			continue
		}
		p := filepath.Join(dir, name+"keepalived.conf")
		os.WriteFile(p, []byte(src), 0o644)
		nodes = append(nodes, kaimport.Node{Name: name, Path: p})
	}
	out, warnings, err := kaimport.Convert(nodes)
	var ws []string
	located := regexp.MustCompile(`keepalived\.conf:\d+$`)
	for _, w := range warnings {
		if !located.MatchString(w.At) {
			t.Errorf("a warning without file:line: %q", w.String())
		}
		ws = append(ws, w.String())
	}
	return string(out), strings.Join(ws, "\n"), err
}

const vi1 = `
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 100
  virtual_ipaddress {
    192.0.2.100/24
  }
}
`

// TestImportFindings: each thing the import got wrong, as found by trying
// it as a new user would (issue 15), and what it does now.
func TestImportFindings(t *testing.T) {
	for _, tc := range []struct {
		name       string
		confs      map[string]string
		want, warn []string // substrings of the policy and the warnings
		not        []string // substrings the policy must not have
		once       []string // substrings the policy has exactly once
		invalid    bool     // the policy is refused by validation, on purpose
		err        string
	}{
		{name: "sync group members without group { }: keepalived 2.2.7 refuses the line and removes the group (a Debian sample panicked; the import then made a group)",
			confs: map[string]string{"": vi1 + strings.NewReplacer("VI_1", "VI_2", "51", "52").Replace(vi1) + "\nvrrp_sync_group VG1 {\n  VI_1 VI_2\n}\n"},
			not:   []string{`sync_group "VG1"`},
			warn:  []string{"keepalived refuses members outside group { }", "vrrp_sync_group VG1 has no members"}},
		// Issue 23: what the import carried over with another meaning.
		{name: "state MASTER with nopreempt: keepalived clears nopreempt, the node preempts",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  state MASTER\n  nopreempt", 1)},
			not:   []string{"preempt = false"}, warn: []string{"keepalived clears nopreempt"}},
		{name: "a site of state MASTER + nopreempt and state BACKUP + nopreempt: the MASTER node preempts, the others do not (it kept the first node's for all)",
			confs: map[string]string{
				"lb01": strings.Replace(vi1, "priority 100", "priority 100\n  state MASTER\n  nopreempt", 1),
				"lb02": strings.Replace(vi1, "priority 100", "priority 90\n  state BACKUP\n  nopreempt", 1),
				"lb03": strings.Replace(vi1, "priority 100", "priority 80\n  state BACKUP\n  nopreempt", 1)},
			want: []string{"preempt = { lb02 = false, lb03 = false }"}, not: []string{"the policy keeps the first"}},
		{name: "a site where every node has nopreempt",
			confs: map[string]string{
				"lb01": strings.Replace(vi1, "priority 100", "priority 100\n  nopreempt", 1),
				"lb02": strings.Replace(vi1, "priority 100", "priority 90\n  nopreempt", 1)},
			want: []string{"preempt = false"}},
		{name: "priority 255 with nopreempt: keepalived resets nopreempt",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 255\n  nopreempt", 1)},
			not:   []string{"preempt = false"}, warn: []string{"keepalived resets nopreempt"}},
		{name: "nopreempt then preempt: the last one counts",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  nopreempt\n  preempt", 1)},
			not:   []string{"preempt = false"}},
		{name: "preempt then nopreempt: the last one counts",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  preempt\n  nopreempt", 1)},
			want:  []string{"preempt = false"}},
		{name: "state MASTER with preempt_delay: keepalived clears the delay",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  state MASTER\n  preempt_delay 30", 1)},
			not:   []string{"preempt_delay"}, warn: []string{"keepalived clears the delay"}},
		{name: "nopreempt with preempt_delay: keepalived resets the delay",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  nopreempt\n  preempt_delay 30", 1)},
			want:  []string{"preempt = false"}, not: []string{"preempt_delay"}, warn: []string{"keepalived resets the delay"}},
		{name: "vrrp_script weight ... reverse: the priority moves the other way (reverse was dropped)",
			confs: map[string]string{"": "vrrp_script chk {\n  script \"/bin/true\"\n  weight 10 reverse\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }", 1)},
			want: []string{`check "chk" {`, `weight = 10`, `reverse = true`}},
		{name: "track_script weight ... reverse makes a check of its own, reversed",
			confs: map[string]string{"": "vrrp_script chk {\n  script \"/bin/true\"\n  weight 10\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk weight -20 reverse\n  }", 1)},
			want: []string{`check "chk_wm20_reverse" {`, `weight = -20`, `reverse = true`}, warn: []string{"weight -20 reverse: imported as check chk_wm20_reverse"}},
		{name: "a track_script weight without reverse keeps its script's reverse, as keepalived does; noreverse clears it",
			confs: map[string]string{"": "vrrp_script chk {\n  script \"/bin/true\"\n  weight 10 reverse\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk weight 5\n  }", 1) +
				strings.NewReplacer("VI_1", "VI_2", "51", "52", "priority 100", "priority 100\n  track_script {\n    chk weight 5 noreverse\n  }").Replace(vi1)},
			want: []string{`check "chk_w5_reverse" {`, `check "chk_w5" {`}, once: []string{"reverse = true"}},
		{name: "track_interface weight ... reverse",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  track_interface {\n    eth1 weight 10 reverse\n  }", 1)},
			want:  []string{`name = "eth1"`, `weight = 10`, `reverse = true`}},
		{name: "track_file weight 0 reverse: FAULT while the file holds 0, not while it holds another number",
			confs: map[string]string{"": "track_file drain {\n  file \"/run/vigil/drain\"\n  weight 0 reverse\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  track_file {\n    drain\n  }", 1)},
			want: []string{`check "drain" {`, `weight = 0`, `reverse = true`}},
		{name: "a notify script's user and group run it, they are not its arguments",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  notify_master \"/etc/keepalived/master.sh\" nobody nogroup", 1)},
			want:  []string{`master = ["/bin/sh", "-c", "/etc/keepalived/master.sh"]`, `plugin "exec-notify" {`, `user = "nobody"`, `group = "nogroup"`},
			not:   []string{"master.sh nobody"}},
		{name: "smtp_alert false in an instance sends no mail (it switched mail on)",
			confs: map[string]string{"": "global_defs {\n  notification_email {\n    ops@example.com\n  }\n  smtp_server 192.0.2.25\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  smtp_alert false", 1)},
			not: []string{`notifier "mail"`, `"mail"`}},
		{name: "smtp_alert false in an instance overrides a global smtp_alert",
			confs: map[string]string{"": "global_defs {\n  notification_email {\n    ops@example.com\n  }\n  smtp_server 192.0.2.25\n  smtp_alert\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  smtp_alert false", 1) +
				strings.NewReplacer("VI_1", "VI_2", "51", "52").Replace(vi1)},
			want: []string{`notifier "mail"`, `notify = ["mail"]`}, once: []string{`notify = ["mail"]`}},
		{name: "global smtp_alert off sends no mail",
			confs: map[string]string{"": "global_defs {\n  notification_email {\n    ops@example.com\n  }\n  smtp_server 192.0.2.25\n  smtp_alert off\n}\n" + vi1},
			not:   []string{`notifier "mail"`}},
		{name: "a sync group's smtp_alert false sends no group mail",
			confs: map[string]string{"": "global_defs {\n  notification_email {\n    ops@example.com\n  }\n  smtp_server 192.0.2.25\n  smtp_alert\n}\n" +
				vi1 + strings.NewReplacer("VI_1", "VI_2", "51", "52").Replace(vi1) + "\nvrrp_sync_group VG1 {\n  group {\n    VI_1\n    VI_2\n  }\n  smtp_alert false\n}\n"},
			want: []string{`sync_group "VG1" {`, `notifier "mail"`}, once: []string{`notify = ["mail"]`}},
		{name: "a global smtp_alert mails sync groups too",
			confs: map[string]string{"": "global_defs {\n  notification_email {\n    ops@example.com\n  }\n  smtp_server 192.0.2.25\n  smtp_alert\n}\n" +
				vi1 + strings.NewReplacer("VI_1", "VI_2", "51", "52").Replace(vi1) + "\nvrrp_sync_group VG1 {\n  group {\n    VI_1\n    VI_2\n  }\n}\n"},
			want: []string{"instances = [\"VI_1\", \"VI_2\"]\n notify = [\"mail\"]"}},
		{name: "notify_priority_changes on an instance is carried (it was refused, then dropped with a warning)",
			confs: map[string]string{"": "global_defs {\n  notify_fifo /run/ka.fifo\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  notify_priority_changes", 1)},
			want:  []string{`notify_priority_changes = true`, `fifo = "/run/ka.fifo"`}, not: []string{"notify_priority_changes is not imported"}},
		{name: "notify_priority_changes: the instance's own, else its sync group's, else the global one",
			confs: map[string]string{"": "global_defs {\n  vrrp_notify_priority_changes\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  notify_priority_changes false", 1) +
				strings.NewReplacer("VI_1", "VI_2", "51", "52").Replace(vi1) +
				strings.NewReplacer("VI_1", "VI_3", "51", "53").Replace(vi1) +
				strings.NewReplacer("VI_1", "VI_4", "51", "54").Replace(vi1) +
				"\nvrrp_sync_group VG1 {\n  group {\n    VI_3\n    VI_4\n  }\n  notify_priority_changes off\n}\n"},
			want: []string{"vrid = 52\n interface = \"eth0\"\n vips = [\"192.0.2.100/24\"]\n priority = 100\n notify_priority_changes = true"},
			once: []string{`notify_priority_changes = true`}, not: []string{"not imported"}},
		{name: "notify_priority_changes that differs between nodes is said",
			confs: map[string]string{"lb01": strings.Replace(vi1, "priority 100", "priority 100\n  notify_priority_changes", 1), "lb02": vi1},
			want:  []string{`notify_priority_changes = true`}, warn: []string{"notify_priority_changes is on for lb01 and off for lb02"}},
		{name: "static_ipaddress, static_routes and static_rules are held while Vigil runs (they were left out)",
			confs: map[string]string{"": "global_defs {\n  default_interface eth1\n}\nstatic_ipaddress {\n  198.51.100.1/24 dev eth0 scope link label eth0:st\n  198.51.100.2/24\n}\n" +
				"static_routes {\n  203.0.113.0/24 via 198.51.100.254 dev eth0 table 100\n}\nstatic_rules {\n  from 198.51.100.0/24 table 100 priority 1000\n}\n" + vi1},
			want: []string{"static {\n address {\n address = \"198.51.100.1/24\"\n interface = \"eth0\"\n scope = \"link\"\n label = \"eth0:st\"\n }",
				"address {\n address = \"198.51.100.2/24\"\n interface = \"eth1\"\n }",
				"route {\n to = \"203.0.113.0/24\"\n via = \"198.51.100.254\"\n dev = \"eth0\"\n table = 100\n }",
				"rule {\n from = \"198.51.100.0/24\"\n table = 100\n priority = 1000\n }"},
			not: []string{"static_ipaddress is not imported", "static_routes is not imported"}},
		{name: "static entries that differ between nodes go to each node",
			confs: map[string]string{"lb01": "static_ipaddress {\n  198.51.100.1/24 dev eth0\n}\n" + vi1, "lb02": "static_ipaddress {\n  198.51.100.2/24 dev eth0\n}\n" + vi1},
			want:  []string{"static {\n nodes = [\"lb01\"]\n address {\n address = \"198.51.100.1/24\"", "static {\n nodes = [\"lb02\"]\n address {\n address = \"198.51.100.2/24\""}},
		{name: "static entries the same on every node are written once",
			confs: map[string]string{"lb01": "static_ipaddress {\n  198.51.100.1/32 dev lo\n}\n" + vi1, "lb02": "static_ipaddress {\n  198.51.100.1/32 dev lo\n}\n" + vi1},
			once:  []string{"static {"}, not: []string{"nodes = "}},
		{name: "a sync group with no members is left out, not a panic",
			confs: map[string]string{"": vi1 + "\nvrrp_sync_group VG1 {\n  group {\n  }\n}\n"},
			not:   []string{"sync_group"}, warn: []string{"vrrp_sync_group VG1 has no members"}},
		{name: "a vrrp_script whose only script line is conditional is refused in a per-node file",
			confs: map[string]string{"": "vrrp_script chk {\n  @lb01 script \"/bin/true\"\n  weight -20\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }", 1)},
			not:   []string{`"-c", ""`, `check "chk"`, "track"},
			warn:  []string{`@lb01 applies only on node "lb01"`, "vrrp_script chk is refused", "track_script chk names no vrrp_script: keepalived ignores it"}},
		{name: "conditional lines apply on the node they name",
			confs: map[string]string{
				"lb01": "vrrp_script chk {\n  @lb01 script \"/bin/true\"\n  @^lb01 script \"/bin/false\"\n  weight -20\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }", 1),
				"lb02": strings.Replace(vi1, "priority 100", "priority 90", 1)},
			want: []string{`command = ["/bin/sh", "-c", "/bin/true"]`}, not: []string{"/bin/false"}},
		{name: "a node's address comes from its first unicast_src_ip, and a second one is reported",
			confs: map[string]string{"lb01": strings.Replace(vi1, "priority 100", "priority 100\n  unicast_src_ip 192.0.2.11\n  unicast_peer {\n    192.0.2.12\n  }", 1) +
				strings.NewReplacer("VI_1", "VI_2", "51", "52", "192.0.2.100", "198.51.100.100", "priority 100", "priority 100\n  unicast_src_ip 198.51.100.11\n  unicast_peer {\n    198.51.100.12\n  }").Replace(vi1),
				"lb02": strings.Replace(vi1, "priority 100", "priority 90\n  unicast_src_ip 192.0.2.12\n  unicast_peer {\n    192.0.2.11\n  }", 1)},
			want: []string{`address   = "192.0.2.11"`}, not: []string{`address   = "198.51.100.11"`},
			warn: []string{"VI_2 sends from unicast_src_ip / mcast_src_ip 198.51.100.11", "the node's address is 192.0.2.11"}},
		{name: "label stays when the address also has brd and no_track",
			confs: map[string]string{"": strings.Replace(vi1, "192.0.2.100/24", "192.0.2.100/24 dev eth0 brd 192.0.2.255 label eth0:vip no_track", 1)},
			want:  []string{`label     = "eth0:vip"`},
			warn:  []string{"brd 192.0.2.255 is not imported", "no_track: not imported"}},
		{name: "vrrp_strict is strict mode, max_auto_priority is reported, not dropped",
			confs: map[string]string{"": "global_defs {\n  vrrp_strict\n  max_auto_priority\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  version 3", 1)},
			want:  []string{"strict = true"}, warn: []string{"max_auto_priority is not imported"}},
		// Issue 23: what keepalived runs and the import refused.
		{name: "vrrp_strict with unicast: keepalived runs it unicast where the interface has no multicast (it was refused at validation)",
			confs: map[string]string{"": "global_defs {\n  vrrp_strict\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  unicast_peer {\n    192.0.2.2\n  }", 1)},
			want:  []string{"strict = true", "strict = false", `unicast_peers = ["192.0.2.2"]`}, warn: []string{"keepalived refuses the instance on an interface with multicast"}},
		{name: "vrrp_strict with authentication, the stock RHEL sample: keepalived ignores the auth",
			confs: map[string]string{"": "global_defs {\n  vrrp_strict\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  authentication {\n    auth_type PASS\n    auth_pass 1111\n  }", 1)},
			want:  []string{"strict = true"}, not: []string{"auth", "1111"}, warn: []string{"keepalived.conf:9: VI_1: authentication with vrrp_strict: keepalived ignores it"}},
		{name: "vrrp_strict with preempt_delay: keepalived resets the delay",
			confs: map[string]string{"": "global_defs {\n  vrrp_strict\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  preempt_delay 10", 1)},
			not:   []string{"preempt_delay"}, warn: []string{"preempt_delay with vrrp_strict: keepalived resets the delay"}},
		{name: "vrrp_strict with more than 20 VIPs: keepalived advertises them all",
			confs: map[string]string{"": "global_defs {\n  vrrp_strict\n}\n" + strings.Replace(vi1, "192.0.2.100/24", strings.Repeat("192.0.2.1/24\n", 1)+"192.0.2.2/24\n192.0.2.3/24\n192.0.2.4/24\n192.0.2.5/24\n192.0.2.6/24\n192.0.2.7/24\n192.0.2.8/24\n192.0.2.9/24\n192.0.2.10/24\n192.0.2.11/24\n192.0.2.12/24\n192.0.2.13/24\n192.0.2.14/24\n192.0.2.15/24\n192.0.2.16/24\n192.0.2.17/24\n192.0.2.18/24\n192.0.2.19/24\n192.0.2.20/24\n192.0.2.21/24\n192.0.2.22/24", 1)},
			want:  []string{`"192.0.2.22/24"`}, not: []string{"excluded"}},
		{name: "vrrp_strict with accept on VRRPv2: keepalived resets accept",
			confs: map[string]string{"": "global_defs {\n  vrrp_strict\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  accept", 1)},
			not:   []string{"accept"}, warn: []string{"accept with vrrp_strict on VRRPv2: keepalived resets accept mode"}},
		{name: "unicast_peer written with a prefix: keepalived reads the address",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  unicast_peer {\n    192.0.2.2/24\n  }", 1)},
			want:  []string{`unicast_peers = ["192.0.2.2"]`}, warn: []string{"unicast_peer 192.0.2.2/24: keepalived reads the address and ignores the rest"}},
		{name: "IPv6 VIPs without version 3: keepalived forces VRRPv3",
			confs: map[string]string{"": strings.Replace(vi1, "192.0.2.100/24", "2001:db8::100/64", 1)},
			want:  []string{"version = 3"}, warn: []string{"keepalived runs IPv6 instances as VRRPv3"}},
		{name: "IPv6 VIPs with a global vrrp_version 2: still VRRPv3",
			confs: map[string]string{"": "global_defs {\n  vrrp_version 2\n}\n" + strings.Replace(vi1, "192.0.2.100/24", "2001:db8::100/64", 1)},
			want:  []string{"version = 3"}},
		{name: "VRRPv2 with a fractional advert_int: keepalived rounds to the second",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  advert_int 1.6", 1) +
				strings.NewReplacer("VI_1", "VI_2", "51", "52", "priority 100", "priority 100\n  advert_int 0.3").Replace(vi1)},
			want: []string{`advert_interval = "2s"`, `advert_interval = "1s"`}, not: []string{"ms"}, warn: []string{"advert_int 1600ms on VRRPv2: keepalived sets 2s", "advert_int 300ms on VRRPv2: keepalived sets 1s"}},
		{name: "VRRPv3 keeps a fractional advert_int",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  version 3\n  advert_int 0.3", 1)},
			want:  []string{`advert_interval = "300ms"`}},
		{name: "VRRPv3 with authentication: keepalived ignores the auth (global vrrp_version 3 too)",
			confs: map[string]string{"": "global_defs {\n  vrrp_version 3\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  authentication {\n    auth_type PASS\n    auth_pass 1111\n  }", 1)},
			not:   []string{"auth", "1111"}, warn: []string{"authentication on VRRPv3: keepalived ignores it"}},
		{name: "virtual_ipaddress_excluded of the other family: excluded addresses are not advertised",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  virtual_ipaddress_excluded {\n    2001:db8::5/64\n  }", 1)},
			want:  []string{`excluded_vips = ["2001:db8::5/64"]`}},
		{name: "an instance without virtual_ipaddress: a notify-only instance",
			confs: map[string]string{"": "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  notify_master /bin/true\n}\n"},
			want:  []string{`instance "VI_1" {`, `notify = ["notify_VI_1"]`}, not: []string{"vips"}},
		{name: "unicast_peer min_ttl / max_ttl carry over (they were dropped without a word)",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  unicast_peer {\n    192.0.2.2 min_ttl 250 max_ttl 254\n    192.0.2.3 min_ttl 240\n  }", 1)},
			want:  []string{"unicast_min_ttl = 240", "unicast_peers = [\"192.0.2.2\", \"192.0.2.3\"]"},
			not:   []string{"unicast_max_ttl"}, warn: []string{"imported as the widest, 240 to 255"}},
		{name: "unicast without min_ttl: the TTL Vigil requires is said",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  unicast_peer {\n    192.0.2.2\n  }", 1)},
			not:   []string{"ttl"}, warn: []string{"keepalived takes unicast adverts with any TTL"}},
		{name: "init_fail, garp_master_refresh and dont_track_primary carry over",
			confs: map[string]string{"": "vrrp_script chk {\n  script \"/bin/true\"\n  weight -5\n  init_fail\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }\n  garp_master_refresh 60\n  dont_track_primary", 1)},
			want: []string{"init_fail = true", `garp_master_refresh = "60s"`, "track_own_interface = false"}, not: []string{"is not imported"}},
		{name: "vrrp_track_process becomes the process check (it was not imported)",
			confs: map[string]string{"": "vrrp_track_process chk_haproxy {\n  process /usr/sbin/haproxy -f /etc/haproxy/haproxy.cfg\n  param_match partial\n  quorum 2\n  quorum_max 4\n  delay 1.5\n  weight -20 reverse\n}\n" +
				"vrrp_track_process chk_bird {\n  process bird\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  track_process {\n    chk_haproxy\n    chk_bird weight 10\n  }", 1)},
			want: []string{`check "chk_haproxy" {`, `plugin = "process"`, `weight = -20`, `reverse = true`,
				`process = ["/usr/sbin/haproxy", "-f", "/etc/haproxy/haproxy.cfg"]`, `param_match = "partial"`, "quorum = 2", "quorum_max = 4", `delay = "1500ms"`,
				`check "chk_bird_w10" {`, `process = ["bird"]`, `track = ["chk_haproxy", "chk_bird_w10"]`},
			not: []string{"is not imported"}},
		{name: "a sync group's track_process reaches its members",
			confs: map[string]string{"": "vrrp_track_process chk_bird {\n  process bird\n}\n" + vi1 + strings.NewReplacer("VI_1", "VI_2", "51", "52").Replace(vi1) +
				"vrrp_sync_group VG1 {\n  group {\n    VI_1\n    VI_2\n  }\n  track_process {\n    chk_bird\n  }\n}\n"},
			want: []string{`track = ["chk_bird"]`, `plugin = "process"`}, not: []string{"is not imported"}},
		{name: "virtual_routes and virtual_rules become route and rule blocks (they were not imported)",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  virtual_routes {\n    src 192.0.2.100 to 198.51.100.0/24 via 192.0.2.254 dev eth0 table 100 metric 10\n    203.0.113.0/24 via 192.0.2.254\n    blackhole 198.51.100.128/25\n  }\n  virtual_rules {\n    from 192.0.2.100 table 100 priority 1000\n    from all fwmark 1/0x7 table 13\n    to 198.51.100.0/24 table main\n  }", 1)},
			want: []string{`route {`, `src    = "192.0.2.100"`, `to     = "198.51.100.0/24"`, `via    = "192.0.2.254"`, `dev    = "eth0"`, "table  = 100", "metric = 10",
				`to  = "203.0.113.0/24"`, `type = "blackhole"`, `to   = "198.51.100.128/25"`, `rule {`, `from     = "192.0.2.100"`, "priority = 1000", `fwmark = "1/0x7"`, "table  = 13"},
			warn: []string{"table main is a name from rt_tables"}},
		{name: "notify scripts that differ per node run on their own node (the first node's ran everywhere)",
			confs: map[string]string{
				"lb01": strings.Replace(vi1, "priority 100", "priority 100\n  notify_master \"/usr/bin/touch /run/master-lb01\"", 1),
				"lb02": strings.Replace(vi1, "priority 100", "priority 90\n  notify_master \"/usr/bin/touch /run/master-lb02\"", 1),
				"lb03": strings.Replace(vi1, "priority 100", "priority 80\n  notify_master \"/usr/bin/touch /run/master-lb02\"", 1)},
			want: []string{`notify          = ["notify_VI_1", "notify_VI_1_lb02"]`, `notifier "notify_VI_1" {`, `nodes  = ["lb01"]`, "/run/master-lb01",
				`notifier "notify_VI_1_lb02" {`, `nodes  = ["lb02", "lb03"]`, "/run/master-lb02"}},
		{name: "a sync group's notify scripts that differ per node run on their own node (the first node's ran everywhere)",
			confs: map[string]string{
				"lb01": vi1 + "vrrp_sync_group G {\n  group {\n    VI_1\n  }\n  notify_master \"/usr/bin/touch /run/g-lb01\"\n}\n",
				"lb02": strings.Replace(vi1, "priority 100", "priority 90", 1) + "vrrp_sync_group G {\n  group {\n    VI_1\n  }\n  notify_master \"/usr/bin/touch /run/g-lb02\"\n}\n"},
			want: []string{`notify = ["notify_group_G", "notify_group_G_lb02"]`, `notifier "notify_group_G" {`, `nodes  = ["lb01"]`, "/run/g-lb01",
				`notifier "notify_group_G_lb02" {`, `nodes  = ["lb02"]`, "/run/g-lb02"}},
		{name: "vrrp_mcast_group4 / 6 carry over (they were not imported)",
			confs: map[string]string{"": "global_defs {\n  vrrp_mcast_group4 224.0.0.19\n  vrrp_mcast_group6 ff02::13\n}\n" + vi1},
			want:  []string{`multicast_group4   = "224.0.0.19"`, `multicast_group6   = "ff02::13"`}, not: []string{"is not imported"}},
		{name: "accept, no_accept and strict_mode carry over",
			confs: map[string]string{"": vi1 + strings.NewReplacer("VI_1", "VI_2", "51", "52", "priority 100", "priority 100\n  no_accept\n  strict_mode off").Replace(vi1) +
				strings.NewReplacer("VI_1", "VI_3", "51", "53", "priority 100", "priority 100\n  version 3\n  accept\n  strict_mode").Replace(vi1)},
			want: []string{"accept   = false", "strict   = false", "accept   = true", "strict   = true"}, not: []string{"is not imported"}},
		{name: "smtp_alert on one instance mails for that instance only",
			confs: map[string]string{"": "global_defs {\n  notification_email {\n    ops@example.org\n  }\n  smtp_server 192.0.2.25\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  smtp_alert", 1) + strings.NewReplacer("VI_1", "VI_2", "51", "52").Replace(vi1)},
			want: []string{`notifier "mail"`, "site \"imported\" {\n check_advert_addrs = true\n}", "priority = 100\n notify = [\"mail\"]\n}"},
			once: []string{`notify = ["mail"]`}},
		{name: "a global smtp_alert mails for every instance",
			confs: map[string]string{"": "global_defs {\n  notification_email {\n    ops@example.org\n  }\n  smtp_server 192.0.2.25\n  smtp_alert\n}\n" + vi1},
			want:  []string{`notify             = ["mail"]`, `notifier "mail"`}},
		{name: "mail settings without smtp_alert are reported",
			confs: map[string]string{"": "global_defs {\n  notification_email {\n    ops@example.org\n  }\n  smtp_server 192.0.2.25\n}\n" + vi1},
			not:   []string{`notifier "mail"`}, warn: []string{"no instance or sync group has smtp_alert"}},
		{name: "a track_script weight override is the instance's weight, not FAULT",
			confs: map[string]string{"": "vrrp_script chk {\n  script \"/bin/true\"\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk weight 10\n  }", 1)},
			want:  []string{`check "chk_w10"`, "weight   = 10", `track           = ["chk_w10"]`}},
		{name: "scripts without script_user run as root, as in keepalived",
			confs: map[string]string{"": "global_defs {\n  enable_script_security\n}\nvrrp_script chk {\n  script \"/bin/true\"\n  weight -5\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }", 1)},
			want:  []string{"plugin \"exec\" {\n  user = \"root\"\n}", "script_security = true"}, warn: []string{"runs these scripts as root (no script_user, and no keepalived_script user"}},
		{name: "enable_script_security with a non-root script_user carries over (it was dropped without a word)",
			confs: map[string]string{"": "global_defs {\n  enable_script_security\n  script_user nobody\n}\nvrrp_script chk {\n  script \"/bin/true\"\n  weight -5\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }\n  notify_master /bin/true", 1)},
			want: []string{"plugin \"exec\" {\n  user = \"nobody\"\n}"}, once: []string{}, not: []string{"is not imported"}},
		{name: "enable_script_security reaches exec checks and exec-notify",
			confs: map[string]string{"": "global_defs {\n  enable_script_security\n  script_user nobody\n}\nvrrp_script chk {\n  script \"/bin/true\"\n  weight -5\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }\n  notify_master /bin/true", 1)},
			want: []string{"script_security = true"}},
		{name: "script_user carries over to the exec checks",
			confs: map[string]string{"": "global_defs {\n  script_user nobody\n}\nvrrp_script chk {\n  script \"/bin/true\"\n  weight -5\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }", 1)},
			want:  []string{"plugin \"exec\" {\n  user = \"nobody\"\n}"}},
		{name: "a track_script naming no script says where",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk_missing\n  }", 1)},
			warn:  []string{"keepalived.conf:7: VI_1: track_script chk_missing names no vrrp_script: keepalived ignores it"}, not: []string{"track"}},
		{name: "notify scripts and the notify FIFO carry over to exec-notify",
			confs: map[string]string{"": "global_defs {\n  script_user nobody\n  notify_fifo /run/keepalived.fifo\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  notify_master \"/usr/local/bin/became-master.sh --now\"\n  notify \"/usr/local/bin/notify.sh\"", 1)},
			want: []string{`notify = ["notify_fifo"]`, `notify = ["notify_VI_1"]`, `notifier "notify_VI_1" {`, `plugin = "exec-notify"`,
				`master = ["/bin/sh", "-c", "/usr/local/bin/became-master.sh --now"]`,
				`command = ["/bin/sh", "-c", "/usr/local/bin/notify.sh \"$@\"", "notify"]`,
				`fifo = "/run/keepalived.fifo"`, "plugin \"exec-notify\" {\n user = \"nobody\"\n}"}},
		{name: "AH authentication is refused at its line",
			confs:   map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  authentication {\n    auth_type AH\n    auth_pass x\n  }", 1)},
			warn:    []string{"keepalived.conf:7: auth_type AH is refused"},
			invalid: true},
		{name: "a sync group's notify scripts carry over as GROUP notifications, its tracks to every member",
			confs: map[string]string{"": "vrrp_script chk {\n  script \"/bin/true\"\n}\n" + vi1 + strings.NewReplacer("VI_1", "VI_2", "51", "52").Replace(vi1) +
				"\nvrrp_sync_group VG1 {\n  group {\n    VI_1\n    VI_2\n  }\n  notify_master \"/usr/local/bin/group-master.sh\"\n  notify /usr/local/bin/group.sh\n" +
				"  track_script {\n    chk weight -10\n  }\n  track_interface {\n    eth1\n  }\n}\n"},
			want: []string{`notify    = ["notify_group_VG1"]`, `notifier "notify_group_VG1" {`, `master  = ["/bin/sh", "-c", "/usr/local/bin/group-master.sh"]`,
				`command = ["/bin/sh", "-c", "/usr/local/bin/group.sh \"$@\"", "notify"]`, `track     = ["chk"]`, `name = "eth1"`},
			not:  []string{"is not imported"},
			warn: []string{"chk weight in vrrp_sync_group VG1 is not used"}},
		{name: "a track_script on some nodes only is tracked on those only (the seed tracks nginx where a node is master)",
			confs: map[string]string{
				"lb01": "vrrp_script chk {\n  script \"/bin/true\"\n  weight -25\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }", 1),
				"lb02": "vrrp_script chk {\n  script \"/bin/true\"\n  weight -25\n}\n" + strings.Replace(vi1, "priority 100", "priority 80", 1)},
			want: []string{`track           = { lb01 = ["chk"], lb02 = [] }`}, not: []string{"the policy keeps the first"}},
		{name: "track_file becomes the file-weight check, weights and init_file exact",
			confs: map[string]string{"": "track_file drain {\n  file \"/run/vigil/drain\"\n  init_file 0\n}\n" +
				"vrrp_track_file maint {\n  file /run/maint\n  weight 0\n}\n" +
				strings.Replace(vi1, "priority 100", "priority 100\n  track_file {\n    drain weight 2 reverse\n    maint\n  }", 1)},
			want: []string{`track           = ["drain_wm2", "maint"]`, `check "drain_wm2" {`, `plugin = "file-weight"`, `weight = -2`,
				`file = "/run/vigil/drain"`, `init = 0`, `check "maint" {`, `weight = 0`, `file = "/run/maint"`},
			not: []string{"is not imported"}},
		{name: "a script defined differently per node becomes a check per node (it kept the first node's)",
			confs: map[string]string{
				"lb01": "vrrp_script chk {\n  script \"/bin/true one\"\n  weight -25\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }", 1),
				"lb02": "vrrp_script chk {\n  script \"/bin/true two\"\n  weight -25\n}\n" + strings.Replace(vi1, "priority 100", "priority 80\n  track_script {\n    chk\n  }", 1)},
			want: []string{`track           = { lb01 = ["chk"], lb02 = ["chk_lb02"] }`, `check "chk_lb02" {`, `nodes    = ["lb02"]`, `"/bin/true two"`, `nodes    = ["lb01"]`},
			not:  []string{"imported from the first"}},
		{name: "use_vmac carries over with its name and vmac_xmit_base; a MAC of its own is refused",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  use_vmac vrrp51\n  vmac_xmit_base", 1) +
				strings.NewReplacer("VI_1", "VI_2", "51", "52", "priority 100", "priority 100\n  use_vmac 02:00:00:00:00:52").Replace(vi1)},
			want: []string{"use_vmac       = true", `vmac_interface = "vrrp51"`, "vmac_xmit_base = true"},
			warn: []string{"use_vmac's MAC address 02:00:00:00:00:52 is not imported"}},
		{name: "IPv6 unicast without min_ttl: keepalived sends at hop limit 64, which Vigil refused (a mixed pair split)",
			confs: map[string]string{"": strings.NewReplacer("priority 100", "priority 100\n  unicast_src_ip 2001:db8::1\n  unicast_peer {\n    2001:db8::2\n  }", "192.0.2.100/24", "2001:db8::100/64").Replace(vi1)},
			want:  []string{"unicast_min_ttl = 64"}, warn: []string{"keepalived sends IPv6 unicast adverts with hop limit 64"}},
		// Issue 25: keepalived 2.4.3's auth_hmac.
		{name: "auth_hmac: keys inline, in hex and in a file, the active key, mode, anti_replay and time_window",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  auth_hmac {\n    key 1 hex:a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n    key 2 keepalived-auth-hmac-key-id-2-for-tests\n    key 3 file:/etc/keepalived/k3\n    active_key 2\n    mode permissive\n    anti_replay monotonic\n    time_window 12\n  }", 1)},
			want: []string{"hmac {", `secret = "hex:a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"`, `secret = "keepalived-auth-hmac-key-id-2-for-tests"`,
				`secret_file = "/etc/keepalived/k3"`, "active_key = 2", `mode = "permissive"`, `anti_replay = "monotonic"`, `time_window = "12s"`},
			invalid: true}, // the key file is not on this machine: the policy says so
		{name: "auth_hmac with authentication: keepalived drops the password",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  authentication {\n    auth_type PASS\n    auth_pass 1322\n  }\n  auth_hmac {\n    key 1 0123456789abcdef0123456789abcdef\n    active_key 1\n  }", 1)},
			want:  []string{"hmac {", "active_key = 1"}, not: []string{"auth {", "1322"}, warn: []string{"keepalived drops the password"}},
		{name: "auth_hmac whose active_key names no key: keepalived runs the instance unauthenticated",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  auth_hmac {\n    key 1 0123456789abcdef0123456789abcdef\n    active_key 2\n  }", 1)},
			not:   []string{"hmac {", "0123456789abcdef"}, warn: []string{"active_key 2 names no key: keepalived disables auth_hmac"}},
		{name: "auth_hmac with strict mode: keepalived forces enforce",
			confs: map[string]string{"": "global_defs {\n  vrrp_strict\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  auth_hmac {\n    key 1 0123456789abcdef0123456789abcdef\n    active_key 1\n    mode receive-only\n  }", 1)},
			not:   []string{"receive-only"}, warn: []string{"keepalived forces enforce"}},
		{name: "auth_hmac keys keepalived refuses are left out, and no warning shows a key",
			confs: map[string]string{"": strings.Replace(vi1, "priority 100", "priority 100\n  auth_hmac {\n    key 1 0123456789abcdef0123456789abcdef\n    key 2 tooshortsecret\n    key 0 0123456789abcdef0123456789abcdeX\n    active_key 1\n  }", 1)},
			not:   []string{"tooshortsecret", "abcdeX"}, warn: []string{"auth_hmac key 2 is 14 bytes", `auth_hmac key id "0" is not 1-255`}},
		{name: "auth_hmac that differs between nodes (mid-rollout) is named, keys not shown",
			confs: map[string]string{
				"lb01": strings.Replace(vi1, "priority 100", "priority 100\n  auth_hmac {\n    key 1 0123456789abcdef0123456789abcdef\n    active_key 1\n    mode receive-only\n  }", 1),
				"lb02": strings.Replace(vi1, "priority 100", "priority 90\n  auth_hmac {\n    key 1 0123456789abcdef0123456789abcdef\n    active_key 1\n    mode permissive\n  }", 1)},
			want: []string{`mode = "receive-only"`}, warn: []string{"VI_1 on lb02 has another auth_hmac"}},
		{name: "a binary file is refused", confs: map[string]string{"": "\x7fELF\x00\x01"}, err: "binary"},
		{name: "include without a file is an error, not a panic", confs: map[string]string{"": vi1 + "include"}, err: "include names no file"},
		{name: "a file that includes itself is an error at once (it hung: include lines to the power of the depth)",
			confs: map[string]string{"": vi1 + strings.Repeat("include keepalived.conf\n", 20)}, err: "included from itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, warns, err := importText(t, tc.confs)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Alignment is hclwrite's business: compare with runs of
			// spaces as one.
			spaces := regexp.MustCompile(`[ \t]+`)
			flat := spaces.ReplaceAllString(out, " ")
			for _, w := range tc.want {
				if !strings.Contains(flat, spaces.ReplaceAllString(w, " ")) {
					t.Errorf("policy lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(flat, spaces.ReplaceAllString(w, " ")) {
					t.Errorf("policy has %q:\n%s", w, out)
				}
			}
			for _, w := range tc.once {
				if n := strings.Count(flat, spaces.ReplaceAllString(w, " ")); n != 1 {
					t.Errorf("policy has %q %d times, want once:\n%s", w, n, out)
				}
			}
			if strings.Contains(warns, "0123456789abcdef") || strings.Contains(warns, "a0a1a2a3") || strings.Contains(warns, "id-2-for-tests") {
				t.Errorf("a warning shows a key:\n%s", warns)
			}
			for _, w := range tc.warn {
				if !strings.Contains(warns, w) {
					t.Errorf("warnings lack %q:\n%s", w, warns)
				}
			}
			_, _, diags := policy.Parse("imported.hcl", []byte(out), policy.Options{Builtins: builtin.Kinds()})
			if diags.HasErrors() != tc.invalid {
				t.Errorf("imported policy has errors: %v\n%s", diags, out)
			}
		})
	}
}

// TestSameFileTwice: one file for two nodes is an error.
func TestSameFileTwice(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keepalived.conf")
	os.WriteFile(p, []byte(vi1), 0o644)
	_, _, err := kaimport.Convert([]kaimport.Node{{Name: "lb01", Path: p}, {Name: "lb02", Path: p}})
	if err == nil || !strings.Contains(err.Error(), `node "lb01" and node "lb02"`) {
		t.Errorf("got %v", err)
	}
}

// TestDebianSamples: every sample Debian's keepalived package ships
// imports (maybe with refusals, each located) or is refused with an
// error; none panics. CI installs keepalived, so there they must be found.
func TestDebianSamples(t *testing.T) {
	samples, _ := filepath.Glob("/usr/share/doc/keepalived/samples/keepalived.conf.*")
	if len(samples) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI: no keepalived samples in /usr/share/doc/keepalived/samples (apt-get install keepalived)")
		}
		t.Skip("keepalived's samples are not installed (apt-get install keepalived)")
	}
	for _, p := range samples {
		out, warnings, err := kaimport.Convert([]kaimport.Node{{Path: p}})
		if err != nil {
			continue // refused, with the reason in err
		}
		for _, w := range warnings {
			if !regexp.MustCompile(`:\d+$`).MatchString(w.At) {
				t.Errorf("%s: a warning without file:line: %q", p, w.String())
			}
		}
		if _, _, diags := policy.Parse("imported.hcl", out, policy.Options{Builtins: builtin.Kinds()}); diags.HasErrors() {
			t.Logf("%s: imported, and validation refuses it: %v", filepath.Base(p), diags.Errs()[0])
		}
	}
}

// TestFIFONeverHangs: an include, or a script whose file the import reads
// to recognise the seed's nginx check, that names a FIFO fails at once;
// opening a FIFO for reading used to wait for a writer forever.
func TestFIFONeverHangs(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	for _, src := range []string{
		"include " + fifo + "\n" + vi1,
		"vrrp_script chk {\n  script \"" + fifo + " --check\"\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }", 1),
	} {
		p := filepath.Join(dir, "keepalived.conf")
		os.WriteFile(p, []byte(src), 0o644)
		done := make(chan error, 1)
		go func() {
			_, _, err := kaimport.Convert([]kaimport.Node{{Path: p}})
			done <- err
		}()
		select {
		case err := <-done:
			if strings.HasPrefix(src, "include") && (err == nil || !strings.Contains(err.Error(), "not a regular file")) {
				t.Errorf("include of a FIFO: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("import hangs on a FIFO:\n%s", src)
		}
	}
}

// TestScriptUser: keepalived's rule for who runs a script (a vrrp_script's
// user [group], else script_user [group], else keepalived_script where
// that user exists, else root), and one user for every exec check chosen
// the same way every run: the first in file order that is not root.
func TestScriptUser(t *testing.T) {
	track := func(names ...string) string {
		body := ""
		for _, n := range names {
			body += "    " + n + "\n"
		}
		return strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n"+body+"  }", 1)
	}
	scripts := "vrrp_script a {\n  script \"/bin/true\"\n  user root\n}\nvrrp_script b {\n  script \"/bin/true\"\n  user nobody nogroup\n}\nvrrp_script c {\n  script \"/bin/true\"\n  user daemon\n}\n"
	for _, tc := range []struct {
		name     string
		conf     string
		kaScript bool // keepalived_script exists on the importing machine
		want     string
		warn     string
	}{
		{"no script_user, no keepalived_script: root", "vrrp_script a {\n  script \"/bin/true\"\n}\n" + track("a"), false,
			"plugin \"exec\" {\n  user = \"root\"\n}", "no keepalived_script user on this machine"},
		{"no script_user, keepalived_script exists: it", "vrrp_script a {\n  script \"/bin/true\"\n}\n" + track("a"), true,
			"plugin \"exec\" {\n  user = \"keepalived_script\"\n}", "runs these scripts as keepalived_script"},
		{"script_user with a group keeps the group", "global_defs {\n  script_user nobody nogroup\n}\nvrrp_script a {\n  script \"/bin/true\"\n}\n" + track("a"), true,
			"plugin \"exec\" {\n  user = \"nobody\"\n  group = \"nogroup\"\n}", ""},
		{"several users: the first not root, in file order", scripts + track("a", "b", "c"), false,
			"plugin \"exec\" {\n  user = \"nobody\"\n  group = \"nogroup\"\n}", "different users (root, nobody:nogroup, daemon)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(old func(string) bool) { kaimport.UserExists = old }(kaimport.UserExists)
			kaimport.UserExists = func(name string) bool { return name == "keepalived_script" && tc.kaScript }
			var first string
			for i := range 20 {
				out, warns, err := importText(t, map[string]string{"": tc.conf})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = out
					if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(tc.want), " ")) {
						t.Fatalf("policy lacks %q:\n%s", tc.want, out)
					}
					if tc.warn != "" && !strings.Contains(warns, tc.warn) {
						t.Errorf("warnings lack %q:\n%s", tc.warn, warns)
					}
				} else if out != first {
					t.Fatalf("run %d imported differently:\n%s\nthen:\n%s", i, first, out)
				}
			}
		})
	}
}

// TestImportedPluginConfigsConfigure: the config blocks the import writes
// for built-in checks are accepted by the plugins themselves, not only by
// the policy's syntax (a track_process's settings, a track_file's).
func TestImportedPluginConfigsConfigure(t *testing.T) {
	out, _, err := importText(t, map[string]string{"": "vrrp_track_process chk_haproxy {\n  process /usr/sbin/haproxy -f /etc/haproxy/haproxy.cfg\n  param_match initial\n  quorum 1\n  quorum_max 4\n  delay 0.5\n}\n" +
		"track_file drain {\n  file /run/drain\n}\n" +
		strings.Replace(vi1, "priority 100", "priority 100\n  track_process {\n    chk_haproxy\n  }\n  track_file {\n    drain\n  }", 1)})
	if err != nil {
		t.Fatal(err)
	}
	site, _, diags := policy.Parse("imported.hcl", []byte(out), policy.Options{Builtins: builtin.Kinds()})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cfg, _ := site.Config("")
	if len(cfg.Checks) != 2 {
		t.Fatalf("checks %+v", cfg.Checks)
	}
	for _, ck := range cfg.Checks {
		p, err := builtin.New(ck.Plugin)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(ck.Config.JSON, &m)
		if err := p.Configure(context.Background(), m); err != nil {
			t.Errorf("check %s (%s) refuses the imported config %s: %v", ck.Name, ck.Plugin, ck.Config.JSON, err)
		}
	}
}

// TestImportHMACConfigurations: the keepalived 2.4.3 configurations the
// shared auth_hmac captures were made with import to policies that
// validate, with the same keys, modes and windows.
func TestImportHMACConfigurations(t *testing.T) {
	confs, _ := filepath.Glob("../vrrp/testdata/hmac/conf/*.conf")
	if len(confs) < 10 {
		t.Fatalf("%d configurations", len(confs))
	}
	key1 := "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf"
	for _, path := range confs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, warns, err := importText(t, map[string]string{"": string(src)})
			if err != nil {
				t.Fatal(err)
			}
			site, _, diags := policy.Parse("imported.hcl", []byte(out), policy.Options{Builtins: builtin.Kinds()})
			if diags.HasErrors() {
				t.Fatalf("%v\n%s\nwarnings:\n%s", diags, out, warns)
			}
			cfg, err := site.Config("")
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range cfg.Instances {
				h := in.HMAC
				if h == nil {
					t.Fatalf("%s: no hmac\n%s", in.Name, out)
				}
				if k := h.Keys[1]; !strings.Contains(path, "badkey_h2") && string(k) != key1 {
					t.Errorf("%s: key 1 is not the captures' key 1", in.Name)
				}
				if h.Window != 5*time.Second || (strings.Contains(path, "receive_only") != (h.Mode.String() == "receive-only")) {
					t.Errorf("%s: window %v mode %v", in.Name, h.Window, h.Mode)
				}
				if strings.Contains(path, "rotation_after") && h.ActiveKey != 2 {
					t.Errorf("%s: active key %d", in.Name, h.ActiveKey)
				}
			}
		})
	}
}
