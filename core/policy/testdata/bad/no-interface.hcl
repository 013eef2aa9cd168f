node "a" {}

instance "VI_1" {
  vrid     = 1
  vips     = ["192.0.2.24/24"]
  priority = { a = 100 }
}
