node "a" {
  interface = "eth0"
  address   = "192.0.2.1"
}

node "b" {
  interface = "eth0"
  address   = "192.0.2.2"
}

instance "VI_1" {
  vrid            = 300
  version         = 4
  advert_interval = "0s"
  vips            = ["192.0.2.24"]
  priority        = { a = 100, z = 90 }
  track           = ["x"]
}
