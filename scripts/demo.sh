#!/usr/bin/env bash
# The local demo site: three nodes in network namespaces on one bridge, each
# running nginx and a Vigil agent with policies/demo.hcl (each node MASTER
# of one VIP, like the seed's site), and a client that asks all three VIPs
# who serves them. Then n1 is stopped, restarted, cut off and reconnected,
# so you can watch its address move to n3 (priority 80) and come back; and
# nginx dies on n2, first restartably (nothing moves), then for good (n2
# yields VI_2 to n1 at once, and takes it back when nginx returns).
# Needs root, iproute2 and nginx; uses only 192.0.2.0/24, removes everything
# on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "demo: run as root (network namespaces): sudo make demo" >&2; exit 1; }
for tool in ip nginx curl go; do
  command -v "$tool" >/dev/null || { echo "demo: needs $tool (apt-get install -y iproute2 nginx-light curl; Go from go.dev)" >&2; exit 1; }
done

P=vigil-demo
DIR=/run/vigil-demo # policies/demo.hcl names the pid files under it
NODES="n1 n2 n3"
declare -A ADDR=([n1]=192.0.2.11 [n2]=192.0.2.12 [n3]=192.0.2.13 [client]=192.0.2.99)
VIPS="192.0.2.101 192.0.2.102 192.0.2.103"

cleanup() {
  for n in $NODES client; do
    for pid in $(ip netns pids "$P-$n" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$P-$n" 2>/dev/null || true
  done
  ip netns del "$P-br" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
cleanup 2>/dev/null; mkdir -p "$DIR"

echo "== building vigil"
CGO_ENABLED=0 go build -o "$DIR/vigil" ./cmd/vigil
chmod 755 "$DIR" # the health-check plugin runs as nobody and re-executes vigil

echo "== network: bridge namespace $P-br, nodes n1 n2 n3 and a client on 192.0.2.0/24"
ip netns add "$P-br"
ip -n "$P-br" link add br0 type bridge
ip -n "$P-br" link set br0 up
for n in $NODES client; do
  ip netns add "$P-$n"
  ip link add eth0 netns "$P-$n" type veth peer name "v$n" netns "$P-br"
  ip -n "$P-br" link set "v$n" master br0 up
  ip netns exec "$P-$n" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
  ip -n "$P-$n" addr add "${ADDR[$n]}/24" dev eth0
  ip -n "$P-$n" link set lo up
  ip -n "$P-$n" link set eth0 up
done

echo "== nginx on every node (daemonised, as a service manager runs it), answering on port 8088 with its name"
for n in $NODES; do
  mkdir -p "$DIR/$n/logs"
  chmod 755 "$DIR/$n"
  cat > "$DIR/$n/nginx.conf" <<CONF
pid $DIR/$n/nginx.pid;
error_log $DIR/$n/logs/error.log;
events {}
http {
  access_log off;
  client_body_temp_path $DIR/$n/tmp;
  server {
    listen 8088;
    location / { return 200 "served by $n\n"; }
  }
}
CONF
  ip netns exec "$P-$n" nginx -p "$DIR/$n" -c "$DIR/$n/nginx.conf"
done
nginx_master() { cat "$DIR/$1/nginx.pid"; }

declare -A AGENT
start_agent() { # ip netns exec execs the agent, so $! is its pid
  ip netns exec "$P-$1" "$DIR/vigil" agent --policy policies/demo.hcl --node "$1" \
    --state-dir "$DIR/$1/state" --socket "$DIR/$1.sock" >>"$DIR/$1-vigil.log" 2>&1 &
  AGENT[$1]=$!
  disown "$!" # the clean-up kills it; no job-control noise then
}
echo "== starting vigil on n1 n2 n3 (policies/demo.hcl; logs in $DIR/nN-vigil.log)"
for n in $NODES; do start_agent "$n"; done

show() { # rounds: one line per second, who serves each VIP
  for _ in $(seq "$1"); do
    line="$(date +%T)"
    for v in $VIPS; do
      who=$(ip netns exec "$P-client" curl -s --max-time 0.4 "http://$v:8088/" | sed 's/served by //') || true
      line="$line   $v -> ${who:-----}"
    done
    echo "$line"
    sleep 1
  done
}

echo "== client view: each VIP and the node that serves it"
show 6
echo "== vigil status on n3"
"$DIR/vigil" status --socket "$DIR/n3.sock"
echo "== stopping vigil on n1 (SIGTERM: it resigns with priority 0, n3 takes VI_1 after skew time)"
kill -TERM "${AGENT[n1]}"
show 5
echo "== starting vigil on n1 again (it preempts n3 after the master-down interval)"
start_agent n1
show 6
echo "== cutting n1's link (a crash as the others see it: n3 takes over after 3 x 1s + skew)"
ip -n "$P-br" link set vn1 down
show 6
echo "== restoring n1's link (n1 left FAULT as its link came back; it preempts n3 after its master-down interval)"
ip -n "$P-br" link set vn1 up
show 4
echo "== killing nginx on n2: nginx-process sees it at once, nginx-action restarts it, nothing moves"
kill -9 $(nginx_master n2) $(pgrep -P "$(nginx_master n2)") 2>/dev/null || true
show 4
echo "== breaking n2's nginx.conf and killing nginx: the restart fails, n2 yields its instances"
echo "   (FAULT) and VI_2 goes to n1, its backup at 80, within milliseconds"
cp "$DIR/n2/nginx.conf" "$DIR/n2/nginx.conf.good"
echo "this is not nginx configuration;" > "$DIR/n2/nginx.conf"
kill -9 $(nginx_master n2) $(pgrep -P "$(nginx_master n2)") 2>/dev/null || true
show 4
echo "== vigil status on n2"
"$DIR/vigil" status --socket "$DIR/n2.sock"
echo "== repairing nginx.conf on n2 and starting nginx: the check passes, n2 rejoins and takes VI_2 back"
mv "$DIR/n2/nginx.conf.good" "$DIR/n2/nginx.conf"
ip netns exec "$P-n2" nginx -p "$DIR/n2" -c "$DIR/n2/nginx.conf"
show 6
echo "== what n2 logged about nginx"
grep -E "check nginx|action nginx|VI_2 entering" "$DIR/n2-vigil.log" | sed 's/^/   /'
echo "== what n3 logged"
grep -E "entering|protocol VIPs" "$DIR/n3-vigil.log" | sed 's/^/   /'
echo "== done; removing the namespaces"
