node "a" {
  interface = "eth0"
  address   = "192.0.2.1"
}

node "b" {
  interface = "eth0"
  address   = "192.0.2.2"
}

# keepalived's notify-only instance: runs, with a warning.
instance "NOTIFY_ONLY" {
  vrid     = 1
  priority = { a = 100, b = 90 }
}

# VRRPv3 requires an address.
instance "V3" {
  vrid     = 2
  version  = 3
  priority = { a = 100, b = 90 }
}
