node "lb01" {
  interface = "eth0"
  address   = "192.0.2.21"
}

node "lb02" {
  interface = "eth0"
  address   = "192.0.2.22"
}

instance "VI_4" {
  vrid     = 51
  version  = 3
  vips     = ["192.0.2.51/24"]
  priority = { lb01 = 100, lb02 = 80 }
  use_vmac = true
}

instance "VI_6" {
  vrid     = 51
  version  = 3
  vips     = ["2001:db8::51/64"]
  priority = { lb01 = 100, lb02 = 80 }
  use_vmac = true
}

instance "VI_uni" {
  vrid           = 52
  vips           = ["192.0.2.52/24"]
  priority       = { lb01 = 100, lb02 = 80 }
  unicast        = true
  use_vmac       = true
  vmac_interface = "this-name-is-far-too-long"
}

instance "VI_no" {
  vrid           = 53
  vips           = ["192.0.2.53/24"]
  priority       = { lb01 = 100, lb02 = 80 }
  vmac_xmit_base = true
}
