node "a" {
  interface = "eth0"
  address   = "192.0.2.1"
}

node "b" {
  interface = "eth0"
  address   = "192.0.2.2"
}

instance "VI_1" {
  vrid     = 7
  vips     = ["192.0.2.24/24"]
  priority = { a = 100, b = 90 }
}

instance "VI_2" {
  vrid     = 7
  vips     = ["192.0.2.25/24"]
  priority = { a = 90, b = 100 }
}
