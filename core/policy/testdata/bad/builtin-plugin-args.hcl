site "s" {
  plugin_user = "nobody"
}

instance "VI_1" {
  vrid      = 1
  interface = "eth0"
  vips      = ["192.0.2.24/24"]
  track     = ["nginx"]
}

check "nginx" {
  plugin = "nginx-process"
}

# Named like the built-in and without a path: only user may be set.
plugin "nginx-process" {
  args   = ["--fast"]
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
}
