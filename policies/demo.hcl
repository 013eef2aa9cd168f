# The local demo site: three nodes in network namespaces on one bridge, each
# running nginx and MASTER of one VIP, like the seed's site. Addresses are
# from the documentation range 192.0.2.0/24 and never leave the machine.
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
  track    = ["nginx"]

  auth {
    type     = "pass"
    password = "demo"
  }
}

instance "VI_2" {
  vrid     = 22
  vips     = ["192.0.2.102/24"]
  priority = { n1 = 80, n2 = 100, n3 = 60 }
  track    = ["nginx"]

  auth {
    type     = "pass"
    password = "demo"
  }
}

instance "VI_3" {
  vrid     = 23
  vips     = ["192.0.2.103/24"]
  priority = { n1 = 60, n2 = 80, n3 = 100 }
  track    = ["nginx"]

  auth {
    type     = "pass"
    password = "demo"
  }
}

# Each node asks its own nginx; a failure takes 25 off every instance on
# that node, so its master (100 -> 75) falls below the 80 backup.
check "nginx" {
  plugin   = "http-probe"
  interval = "500ms"
  timeout  = "400ms"
  weight   = -25

  config {
    url = "http://127.0.0.1:8088/"
  }
}
