# The seed's site as it was meant to be: three nginx load balancers,
# active-active-active, one VIP per node. Each node is MASTER (100) of one
# VIP and backs up the other two at 80 and 60. When nginx dies on a node,
# Vigil restarts it; if it stays dead the node yields its addresses.
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

instance "VI_1" {
  vrid            = 21
  advert_interval = "1s"
  vips            = ["10.2.61.24/24"]
  priority        = { lb01 = 100, lb02 = 60, lb03 = 80 }
  track           = ["nginx"]

  auth {
    type     = "pass"
    password = "1322"
  }
}

instance "VI_2" {
  vrid            = 22
  advert_interval = "1s"
  vips            = ["10.2.61.25/24"]
  priority        = { lb01 = 80, lb02 = 100, lb03 = 60 }
  track           = ["nginx"]

  auth {
    type     = "pass"
    password = "1322"
  }
}

instance "VI_3" {
  vrid            = 23
  advert_interval = "1s"
  vips            = ["10.2.61.26/24"]
  priority        = { lb01 = 60, lb02 = 80, lb03 = 100 }
  track           = ["nginx"]

  auth {
    type     = "pass"
    password = "1322"
  }
}

# The seed's vrrp_script: every 4 s, weight -25 (100 drops to 75, below the
# 80 backup).
check "nginx" {
  plugin   = "nginx-process"
  interval = "4s"
  weight   = -25

  config {
    pid_file = "/run/nginx.pid"
  }
}

# The seed's script without its flaw: restart nginx, wait 5 s, and if it is
# still down yield this node's instances instead of killing the daemon.
# Under systemd (the package) it asks systemd to restart nginx.service,
# which the package's polkit rule allows the plugin user and nothing more;
# without systemd it runs start, which needs root (plugin "nginx-action" {
# user = "root" }).
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
