# A notifier's name becomes its queue's file name in the state directory:
# "../../x" would write outside it. Names are identifiers.
instance "VI_1" {
  vrid   = 1
  vips   = ["192.0.2.10/24"]
  notify = ["../../x"]
}

notifier "../../x" {
  plugin = "smtp-notify"
}
