# /etc/vigil/site.hcl: the site policy vigil.service runs (vigil-policy(5)).
#
# Every node of the site runs this same file; each finds its part by its
# node name (the short host name, or VIGIL_NODE in /etc/default/vigil).
# Edit the nodes, interface and addresses, check with
#   vigil validate /etc/vigil/site.hcl
#   vigil plan /etc/vigil/site.hcl
# then: systemctl enable --now vigil
#
# The addresses below are documentation addresses (RFC 5737): replace them.

site "example" {
  # Plugins run as this user (the package's; never the agent's own, vigil).
  plugin_user = "vigil-plugin"
}

node "lb1" {
  interface = "eth0"
  address   = "192.0.2.11"
}

node "lb2" {
  interface = "eth0"
  address   = "192.0.2.12"
}

instance "VI_1" {
  vrid     = 51
  vips     = ["192.0.2.100/24"]
  priority = { lb1 = 100, lb2 = 90 }
  track    = ["web"]
}

# The web server on this node answers; failing, it costs 20 priority
# points, enough for the other node to take the address.
check "web" {
  plugin   = "http-probe"
  interval = "1s"
  weight   = -20

  config {
    url = "http://127.0.0.1/"
  }
}
