# The seed's three keepalived.conf files translated faithfully, flaws kept:
# server_3's file is a copy of server_2's (router_id lb02, MASTER 100 of VI_2,
# no MASTER for VI_3). `vigil plan` must warn about both.
site "sgcc-lb" {
  notify = ["ops-mail"]
}

node "lb01" {
  interface = "ens192"
  address   = "10.2.61.21"
  router_id = "lb01"
}

node "lb02" {
  interface = "ens192"
  address   = "10.2.61.22"
  router_id = "lb02"
}

node "lb03" {
  interface = "ens192"
  address   = "10.2.61.23"
  router_id = "lb02"
}

instance "VI_1" {
  vrid            = 21
  advert_interval = "1s"
  vips            = ["10.2.61.24/24"]
  priority        = { lb01 = 100, lb02 = 60, lb03 = 60 }
  track           = ["nginx"]

  auth {
    type     = "pass"
    password = "1322"
  }
}

instance "VI_2" {
  vrid            = 22
  advert_interval = "1s"
  vips            = ["10.2.61.25/24"]
  priority        = { lb01 = 80, lb02 = 100, lb03 = 100 }
  track           = ["nginx"]

  auth {
    type     = "pass"
    password = "1322"
  }
}

instance "VI_3" {
  vrid            = 23
  advert_interval = "1s"
  vips            = ["10.2.61.26/24"]
  priority        = { lb01 = 60, lb02 = 80, lb03 = 80 }

  auth {
    type     = "pass"
    password = "1322"
  }
}

check "nginx" {
  plugin   = "nginx-process"
  interval = "4s"
  weight   = -25
}

notifier "ops-mail" {
  plugin = "smtp-notify"
}
