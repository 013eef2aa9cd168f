# The local demo site: three nodes in network namespaces on one bridge, each
# running nginx and MASTER of one VIP, like the seed's site. Addresses are
# from the documentation range 192.0.2.0/24 and never leave the machine.
# scripts/demo.sh (make demo) runs it.
site "demo" {
  plugin_user = "nobody"
}

node "n1" {
  interface = "eth0"
  address   = "192.0.2.11"
}

node "n2" {
  interface = "eth0"
  address   = "192.0.2.12"
}

node "n3" {
  interface = "eth0"
  address   = "192.0.2.13"
}

instance "VI_1" {
  vrid     = 21
  vips     = ["192.0.2.101/24"]
  priority = { n1 = 100, n2 = 60, n3 = 80 }
  track    = ["nginx-n1", "nginx-n2", "nginx-n3"]

  auth {
    type     = "pass"
    password = "demo"
  }
}

instance "VI_2" {
  vrid     = 22
  vips     = ["192.0.2.102/24"]
  priority = { n1 = 80, n2 = 100, n3 = 60 }
  track    = ["nginx-n1", "nginx-n2", "nginx-n3"]

  auth {
    type     = "pass"
    password = "demo"
  }
}

instance "VI_3" {
  vrid     = 23
  vips     = ["192.0.2.103/24"]
  priority = { n1 = 60, n2 = 80, n3 = 100 }
  track    = ["nginx-n1", "nginx-n2", "nginx-n3"]

  auth {
    type     = "pass"
    password = "demo"
  }
}

# The seed's check and restart-or-yield, for n1's nginx. The demo's
# namespaces share one filesystem, so each node's nginx has its own pid file
# and its own blocks (nodes = [...]); on real nodes one block serves all.
check "nginx-n1" {
  plugin   = "nginx-process"
  interval = "4s"
  weight   = -25
  nodes    = ["n1"]

  config {
    pid_file = "/run/vigil-demo/n1/nginx.pid"
  }
}

action "nginx-recover-n1" {
  plugin = "nginx-action"
  when   = "nginx-n1"

  config {
    start    = ["/usr/sbin/nginx", "-p", "/run/vigil-demo/n1", "-c", "/run/vigil-demo/n1/nginx.conf"]
    wait     = "5s"
    pid_file = "/run/vigil-demo/n1/nginx.pid"
  }
}

# The seed's check and restart-or-yield, for n2's nginx. The demo's
# namespaces share one filesystem, so each node's nginx has its own pid file
# and its own blocks (nodes = [...]); on real nodes one block serves all.
check "nginx-n2" {
  plugin   = "nginx-process"
  interval = "4s"
  weight   = -25
  nodes    = ["n2"]

  config {
    pid_file = "/run/vigil-demo/n2/nginx.pid"
  }
}

action "nginx-recover-n2" {
  plugin = "nginx-action"
  when   = "nginx-n2"

  config {
    start    = ["/usr/sbin/nginx", "-p", "/run/vigil-demo/n2", "-c", "/run/vigil-demo/n2/nginx.conf"]
    wait     = "5s"
    pid_file = "/run/vigil-demo/n2/nginx.pid"
  }
}

# The seed's check and restart-or-yield, for n3's nginx. The demo's
# namespaces share one filesystem, so each node's nginx has its own pid file
# and its own blocks (nodes = [...]); on real nodes one block serves all.
check "nginx-n3" {
  plugin   = "nginx-process"
  interval = "4s"
  weight   = -25
  nodes    = ["n3"]

  config {
    pid_file = "/run/vigil-demo/n3/nginx.pid"
  }
}

action "nginx-recover-n3" {
  plugin = "nginx-action"
  when   = "nginx-n3"

  config {
    start    = ["/usr/sbin/nginx", "-p", "/run/vigil-demo/n3", "-c", "/run/vigil-demo/n3/nginx.conf"]
    wait     = "5s"
    pid_file = "/run/vigil-demo/n3/nginx.pid"
  }
}

# Starting nginx needs root; the checks run as nobody.
plugin "nginx-action" {
  user = "root"
}
