#!/usr/bin/env bash
# Requests/s of rvpp's `http static server` vs nginx serving the same file to
# wrk, one run, same topology: wrk in a client namespace, a veth to the
# server side. rvpp (no workers: one core) owns the root end of the veth
# through af_packet; then the same veth end moves into a server namespace
# where the kernel's TCP and nginx (access log off, one worker process, then
# one per core) serve the same directory.
#
# Usage (root): benches/scripts/http_wrk.sh [seconds] [connections] [path]
# Needs: iproute2, wrk, nginx (Debian's), the release binaries.
set -euo pipefail
SECS=${1:-10}
CONNS=${2:-100}
URLPATH=${3:-/index.html}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${RVPP_BIN_DIR:-$ROOT/target/release}
T=htb$$
WORK=$(mktemp -d)
SOCK=$WORK/cli.sock
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }
[ -x "$NGINX" ] || { echo "nginx missing: apt-get install -y nginx" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }

cleanup() {
  [ -n "${RVPP_PID:-}" ] && kill "$RVPP_PID" 2>/dev/null && wait "$RVPP_PID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  for n in c s; do ip netns del "$T-$n" 2>/dev/null || true; done
  ip link del "$T-h" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/www"
chmod 755 "$WORK" "$WORK/www" # nginx's workers are not root
printf '<html><body>Welcome to rvpp</body></html>\n' > "$WORK/www/index.html"
head -c 102400 /dev/urandom > "$WORK/www/100k.bin"

ip netns add "$T-c"
ip link add "$T-h" type veth peer name "$T-hp"
ip link set "$T-hp" netns "$T-c"
ip -n "$T-c" link set lo up
ip -n "$T-c" addr add 10.202.1.2/24 dev "$T-hp"
ip -n "$T-c" link set "$T-hp" up
sysctl -qw "net.ipv6.conf.$T-h.disable_ipv6=1"

run_wrk() { # prints requests/s; the full report goes to $WORK/wrk-$1.txt
  ip netns exec "$T-c" wrk -t2 -c"$CONNS" -d"${SECS}s" --timeout 10s "http://10.202.1.1$URLPATH" > "$WORK/wrk-$1.txt"
  if grep -qE "Socket errors|Non-2xx" "$WORK/wrk-$1.txt"; then
    echo "  ($1: $(grep -E 'Socket errors|Non-2xx' "$WORK/wrk-$1.txt" | tr -s ' ' | tr '\n' ';'))" >&2
  fi
  awk '/Requests\/sec/{print $2}' "$WORK/wrk-$1.txt"
}

# --- rvpp ---
cat > "$WORK/startup.conf" <<CONF
unix { nodaemon cli-listen $SOCK startup-config $WORK/rvpp.cli }
CONF
cat > "$WORK/rvpp.cli" <<CLI
create host-interface name $T-h
set interface state host-$T-h up
set interface ip address host-$T-h 10.202.1.1/24
http static server www-root $WORK/www uri tcp://0.0.0.0/80 cache-size 16m
CLI
"$BIN/rvpp" -c "$WORK/startup.conf" 2>"$WORK/rvpp.log" &
RVPP_PID=$!
for _ in $(seq 50); do "$BIN/rvppctl" -s "$SOCK" show version >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec "$T-c" ping -c1 -W5 10.202.1.1 >/dev/null
RVPP_RPS=$(run_wrk rvpp)
kill "$RVPP_PID"; wait "$RVPP_PID" 2>/dev/null || true; RVPP_PID=

# --- the kernel and nginx ---
ip netns add "$T-s"
ip link set "$T-h" netns "$T-s"
ip -n "$T-s" link set lo up
ip -n "$T-s" addr add 10.202.1.1/24 dev "$T-h"
ip -n "$T-s" link set "$T-h" up
nginx_run() { # $1 = worker_processes
  cat > "$WORK/nginx.conf" <<NGX
worker_processes $1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $WORK/nginx-body;
  proxy_temp_path $WORK/nginx-proxy;
  fastcgi_temp_path $WORK/nginx-fastcgi;
  uwsgi_temp_path $WORK/nginx-uwsgi;
  scgi_temp_path $WORK/nginx-scgi;
  server { listen 10.202.1.1:80; root $WORK/www; }
}
NGX
  ip netns exec "$T-s" "$NGINX" -c "$WORK/nginx.conf" -p "$WORK"
  for _ in $(seq 50); do [ -s "$WORK/nginx.pid" ] && break; sleep 0.1; done
  ip netns exec "$T-c" ping -c1 -W5 10.202.1.1 >/dev/null
  run_wrk "nginx-$1"
  kill "$(cat "$WORK/nginx.pid")"
  for _ in $(seq 50); do [ -f "$WORK/nginx.pid" ] || break; sleep 0.1; done
}
NGINX1_RPS=$(nginx_run 1)
NGINXN_RPS=$(nginx_run auto)

echo "wrk -t2 -c$CONNS -d${SECS}s http://10.202.1.1$URLPATH over veth:"
echo "  rvpp (af_packet, 1 core):      $RVPP_RPS requests/s"
echo "  nginx (kernel, 1 worker):      $NGINX1_RPS requests/s"
echo "  nginx (kernel, $(nproc) workers):     $NGINXN_RPS requests/s"
awk -v r="$RVPP_RPS" -v k="$NGINX1_RPS" 'BEGIN { if (k > 0) printf "  rvpp/nginx(1 worker): %.2fx\n", r / k }'
