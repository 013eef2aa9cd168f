# strict = true (keepalived's vrrp_strict) refuses what the RFCs forbid.
site "strict" {
  strict = true
}

node "lb01" {
  interface = "eth0"
  address   = "192.0.2.21"
}

node "lb02" {
  interface = "eth0"
  address   = "192.0.2.22"
}

instance "VI_1" {
  vrid          = 21
  vips          = ["192.0.2.24/24"]
  priority      = { lb01 = 100, lb02 = 80 }
  unicast       = true
  preempt_delay = "5s"
  accept        = true

  auth {
    type     = "pass"
    password = "1322"
  }
}

instance "VI_6" {
  vrid                = 22
  version             = 3
  vips                = ["2001:db8::24/64", "fe80::24/64"]
  priority            = { lb01 = 100, lb02 = 80 }
  garp_master_refresh = "60s"
}

# 21 addresses: keepalived's strict mode takes as many as the packet holds (only the
# 8-bit count and the MTU limit it), and so does Vigil.
instance "VI_many" {
  vrid     = 23
  version  = 3
  vips     = ["198.51.100.1/24", "198.51.100.2/24", "198.51.100.3/24", "198.51.100.4/24", "198.51.100.5/24", "198.51.100.6/24", "198.51.100.7/24", "198.51.100.8/24", "198.51.100.9/24", "198.51.100.10/24", "198.51.100.11/24", "198.51.100.12/24", "198.51.100.13/24", "198.51.100.14/24", "198.51.100.15/24", "198.51.100.16/24", "198.51.100.17/24", "198.51.100.18/24", "198.51.100.19/24", "198.51.100.20/24", "198.51.100.21/24"]
  priority = { lb01 = 100, lb02 = 80 }
}

instance "VI_lax" {
  vrid     = 24
  strict   = false
  vips     = ["203.0.113.1/24"]
  priority = { lb01 = 100, lb02 = 80 }
  unicast  = true
}
