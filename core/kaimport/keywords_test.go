package kaimport_test

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/core/policy"
	"github.com/vigil-ha/vigil/plugins/builtin"
)

var updateKeywords = flag.Bool("update-keywords", false, "rewrite testdata/keywords.txt with what the import does now (review the diff)")

// keywordArgs is a plausible argument for keywords that need one; the
// rest get "1", or nothing where a flag is all keepalived takes.
var keywordArgs = map[string]string{
	"state": "MASTER", "interface": "eth1", "unicast_peer": "{\n    192.0.2.2\n  }", "mcast_src_ip": "192.0.2.1", "unicast_src_ip": "192.0.2.1",
	"mcast_dst_ip": "224.0.0.19", "track_interface": "{\n    eth1\n  }", "track_script": "{\n    chk\n  }", "track_file": "{\n    tf\n  }",
	"track_process": "{\n    tp\n  }", "track_bfd": "{\n    bfd1\n  }", "version": "3", "priority": "150", "advert_int": "2",
	"virtual_ipaddress": "{\n    192.0.2.100/24\n  }", "virtual_ipaddress_excluded": "{\n    192.0.2.101/24\n  }",
	"virtual_routes": "{\n    198.51.100.0/24 via 192.0.2.254\n  }", "virtual_rules": "{\n    from 192.0.2.100 table 100\n  }",
	"authentication": "{\n    auth_type PASS\n    auth_pass secret\n  }", "auth_type": "PASS", "auth_pass": "secret",
	"auth_hmac": "{\n    key 1 0123456789abcdef0123456789abcdef\n    active_key 1\n  }",
	"key":       "2 hex:a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf", "active_key": "1", "mode": "permissive",
	"anti_replay": "monotonic", "time_window": "10",
	"notify_backup": "/bin/true", "notify_master": "/bin/true", "notify_fault": "/bin/true", "notify_stop": "/bin/true",
	"notify_deleted": "/bin/true", "notify": "/bin/true", "notify_master_rx_lower_pri": "/bin/true", "script": "\"/bin/true\"",
	"user": "nobody", "weight": "-10", "group": "{\n    VI_1\n  }", "process": "bird", "param_match": "partial", "file": "/run/f",
	"init_file": "0", "router_id": "lb01", "vrrp_version": "3", "notification_email_from": "ka@example.com", "smtp_server": "192.0.2.25",
	"notification_email": "{\n    ops@example.com\n  }", "vrrp_mcast_group4": "224.0.0.19", "vrrp_mcast_group6": "ff02::13",
	"notify_fifo": "/run/ka.fifo", "vrrp_notify_fifo": "/run/ka.fifo", "notify_fifo_script": "/bin/true", "vrrp_notify_fifo_script": "/bin/true",
	"script_user": "nobody", "default_interface": "eth1", "vrrp_garp_extra_if": "1", "lvs_sync_daemon_interface": "eth1",
	"vmac_prefix": "vrrp", "vmac_addr_prefix": "02:00:00", "vrf": "vrf1", "vrrp_iptables": "", "vrrp_ipsets": "", "nftables": "",
	"use_vmac": "", "vmac_xmit_base": "", "use_ipvlan": "", "dont_track_primary": "", "nopreempt": "", "preempt": "", "accept": "",
	"no_accept": "", "strict_mode": "", "smtp_alert": "", "init_fail": "", "full_command": "", "vrrp_strict": "",
	"enable_script_security": "", "vrrp_skip_check_adv_addr": "", "no_virtual_ipaddress": "", "promote_secondaries": "",
	"global_tracking": "", "sync_group_tracking_weight": "", "notify_priority_changes": "", "vrrp_notify_priority_changes": "",
	"garp_extra_if": "all", "use_vmac_addr": "", "check_unicast_src": "", "native_ipv6": "", "skip_check_adv_addr": "",
	"vrrp_check_unicast_src": "", "smtp_alert_vrrp": "", "vrrp_higher_prio_send_advert": "", "vrrp_lower_prio_no_advert": "",
	"vrrp_owner_ignore_adverts": "", "dynamic_interfaces": "", "disable_local_igmp": "", "no_email_faults": "", "max_auto_priority": "",
	"v3_checksum_as_v2": "", "linkbeat_use_polling": "", "debug": "", "lower_prio_no_advert": "", "higher_prio_send_advert": "",
	"owner_ignore_adverts": "", "old_unicast_checksum": "", "unicast_fault_no_peer": "", "log_unknown_vrids": "", "vrrp_no_swap": "",
	"fifo_write_vrrp_states_on_reload": "", "vrrp_rx_bufs_policy": "MTU", "vrrp_cpu_affinity": "0", "track_src_ip": "",
	"thread_timer_expired": "", "timer_expired_backup": "",
}

// keywordConf is a minimal keepalived configuration using kw in block.
func keywordConf(block, kw string) string {
	arg, ok := keywordArgs[kw]
	if !ok {
		arg = "1"
	}
	line := strings.TrimSpace(kw + " " + arg)
	scripts := "vrrp_script chk {\n  script \"/bin/true\"\n}\ntrack_file tf {\n  file /run/tf\n}\nvrrp_track_process tp {\n  process bird\n}\n"
	switch block {
	case "global_defs":
		return "global_defs {\n  " + line + "\n}\n" + vi1
	case "vrrp_instance":
		conf := scripts + vi1
		if kw == "virtual_ipaddress" {
			conf = strings.Replace(conf, "  virtual_ipaddress {\n    192.0.2.100/24\n  }\n", "", 1)
		}
		return strings.Replace(conf, "priority 100", "priority 100\n  "+line, 1)
	case "authentication":
		if kw == "auth_hmac" {
			return strings.Replace(vi1, "priority 100", "priority 100\n  "+line, 1)
		}
		return strings.Replace(vi1, "priority 100", "priority 100\n  authentication {\n    "+line+"\n  }", 1)
	case "auth_hmac":
		return strings.Replace(vi1, "priority 100", "priority 100\n  auth_hmac {\n    key 1 0123456789abcdef0123456789abcdef\n    active_key 1\n    "+line+"\n  }", 1)
	case "vrrp_script":
		return "vrrp_script chk {\n  script \"/bin/true\"\n  " + line + "\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  track_script {\n    chk\n  }", 1)
	case "vrrp_sync_group":
		grp := "  group {\n    VI_1\n    VI_2\n  }\n"
		if kw == "group" {
			grp = ""
		}
		return scripts + vi1 + strings.NewReplacer("VI_1", "VI_2", "51", "52").Replace(vi1) + "vrrp_sync_group G {\n" + grp + "  " + line + "\n}\n"
	case "vrrp_track_process":
		return "vrrp_track_process tp {\n  process bird\n  " + line + "\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  track_process {\n    tp\n  }", 1)
	case "track_file":
		return "track_file tf {\n  file /run/tf\n  " + line + "\n}\n" + strings.Replace(vi1, "priority 100", "priority 100\n  track_file {\n    tf\n  }", 1)
	}
	panic(block)
}

// TestEveryKeyword: what the import does with each keyword keepalived's
// VRRP side parses (keepalived 2.4.3's parser, a superset of 2.2.7's), one
// minimal configuration each: "map" (carried over, no word needed),
// "warn" (carried over or left out, with a warning naming the keyword:
// what keepalived does and what Vigil does instead), "refuse" (the import
// or the policy stops). None may be silent: a keyword the import does not
// map must be named in a warning. docs/migrating.md counts this file.
func TestEveryKeyword(t *testing.T) {
	f, err := os.Open("testdata/keywords.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines, out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	counts := map[string]int{}
	for _, l := range lines {
		fields := strings.Fields(l)
		if len(fields) < 2 || strings.HasPrefix(l, "#") {
			out = append(out, l)
			continue
		}
		block, kw := fields[0], fields[1]
		got := keywordFate(t, block, kw)
		counts[got]++
		out = append(out, fmt.Sprintf("%s %s %s", block, kw, got))
		if len(fields) > 2 && fields[2] != got && !*updateKeywords {
			t.Errorf("%s %s: %s, want %s\n%s", block, kw, got, fields[2], keywordConf(block, kw))
		}
	}
	t.Logf("%d keywords: %d map, %d warn, %d refuse", len(lines), counts["map"], counts["warn"], counts["refuse"])
	if *updateKeywords {
		os.WriteFile("testdata/keywords.txt", []byte(strings.Join(out, "\n")+"\n"), 0o644)
	}
}

func keywordFate(t *testing.T, block, kw string) string {
	t.Helper()
	out, warns, err := importText(t, map[string]string{"": keywordConf(block, kw)})
	if err != nil {
		return "refuse"
	}
	if _, _, diags := policy.Parse("imported.hcl", []byte(out), policy.Options{Builtins: builtin.Kinds()}); diags.HasErrors() {
		return "refuse"
	}
	if regexp.MustCompile(`(^|[^a-z_])` + regexp.QuoteMeta(kw) + `([^a-z_]|$)`).MatchString(warns) {
		return "warn"
	}
	return "map"
}
