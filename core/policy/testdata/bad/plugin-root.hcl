site "s" {
  plugin_user = "root"
}

node "a" {
  interface = "eth0"
  address   = "192.0.2.1"
}

node "b" {
  interface = "eth0"
  address   = "192.0.2.2"
}

instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.24/24"]
  priority = { a = 100, b = 90 }
}

check "web" {
  plugin = "http-probe"
  weight = -20
}
