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
  version  = 3
  vips     = ["192.0.2.1/24"]
  priority = { a = 255, b = 100 }
  accept   = false
}
