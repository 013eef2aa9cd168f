# A policy with a site and nothing to run.
site "empty" {}
