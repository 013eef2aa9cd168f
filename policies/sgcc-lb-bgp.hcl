# The seed's site on a routed fabric: the same three nginx load balancers
# and three service addresses, announced over BGP to the rack's router
# instead of moved by VRRP on a shared segment (docs/bgp.md, health mode).
# Every node whose nginx runs announces all three addresses; the router
# sends each address to the node of highest priority for it (MED 255 minus
# the effective priority), so each node serves its own address as in the
# VRRP site. nginx dying takes 25 off, as the seed's vrrp_script did, and
# the next node takes that address; if nginx cannot be restarted the node
# withdraws everything.
site "sgcc-lb" {
  notify = ["ops-mail"]
}

node "lb01" {
  interface = "ens192"
  address   = "10.2.61.21"
}

node "lb02" {
  interface = "ens192"
  address   = "10.2.61.22"
}

node "lb03" {
  interface = "ens192"
  address   = "10.2.61.23"
}

# No VRRP: the addresses go on lo as host routes (/32).
instance "VI_1" {
  vips     = ["10.2.62.24/32"]
  priority = { lb01 = 100, lb02 = 60, lb03 = 80 }
  track    = ["nginx"]
  bgp      = "health"
}

instance "VI_2" {
  vips     = ["10.2.62.25/32"]
  priority = { lb01 = 80, lb02 = 100, lb03 = 60 }
  track    = ["nginx"]
  bgp      = "health"
}

instance "VI_3" {
  vips     = ["10.2.62.26/32"]
  priority = { lb01 = 60, lb02 = 80, lb03 = 100 }
  track    = ["nginx"]
  bgp      = "health"
}

# One AS for the three nodes, so that the router compares their MEDs; the
# rack's router peers with each node and BFD tells it of a dead node in
# under a second.
bgp {
  asn       = 65061
  hold_time = "9s"
  damping   = "2s"

  peer "tor" {
    address = "10.2.61.1"
    asn     = 65000

    bfd {
      min_rx = "300ms"
      min_tx = "300ms"
    }
  }
}

# Event-driven: nginx's exit is seen at once, not at the next interval.
# init_fail: a node announces nothing before its nginx is seen running.
check "nginx" {
  plugin    = "nginx-process"
  interval  = "4s"
  weight    = -25
  init_fail = true

  config {
    pid_file = "/run/nginx.pid"
  }
}

action "nginx-recover" {
  plugin = "nginx-action"
  when   = "nginx"

  config {
    unit  = "nginx.service"
    start = ["/usr/sbin/nginx"]
    wait  = "5s"
  }
}

notifier "ops-mail" {
  plugin = "smtp-notify"

  config {
    server          = "127.0.0.1"
    port            = 25
    connect_timeout = "30s"
    from            = "failover@example.org"
    to              = ["ops@example.org"]
  }
}
