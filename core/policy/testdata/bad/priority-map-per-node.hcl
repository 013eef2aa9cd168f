instance "VI_1" {
  interface = "eth0"
  vrid      = 1
  vips      = ["192.0.2.24/24"]
  priority  = { lb01 = 100 }
}
