#!/bin/bash
# The seed's check: restart nginx, and give up the node if it stays down.
if [ "$(ps -ef | grep "nginx: master process" | grep -v grep)" == "" ]; then
  /usr/local/nginx/sbin/nginx
  sleep 5
  if [ "$(ps -ef | grep "nginx: master process" | grep -v grep)" == "" ]; then
    killall keepalived
  fi
fi
