#!/usr/bin/env bash
# HTTP requests/s: rvpp's built-in `http static server` vs nginx (the
# kernel's TCP), same file, same topology, one run. wrk runs in a client
# namespace on one end of a veth pair; the server is on the other end:
# first rvpp (af_packet host-interface on the root-namespace end, its main
# thread polling), then nginx in a server namespace that takes that same
# end with the same address. Both serve one file from the same directory.
#
# Usage (root): benches/scripts/wrk_vs_nginx.sh [seconds] [connections] [file-bytes]
#   defaults: 10 s, 100 connections, a 4096-byte file; wrk -t 1.
#   NGINX_WORKERS (default 1: one core each, as rvpp's one main thread).
# Needs: iproute2, wrk, nginx (installed with apt-get when missing), the
# release binaries (cargo build --release --bins).
set -euo pipefail
SECS=${1:-10}
CONNS=${2:-100}
SIZE=${3:-4096}
NGINX_WORKERS=${NGINX_WORKERS:-1}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${RVPP_BIN_DIR:-$ROOT/target/release}
T=wrkn$$
WORK=$(mktemp -d)
SOCK=$WORK/cli.sock
SRV=10.202.1.1
CLI=10.202.1.2
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  # Installed only: policy-rc.d (or no init) keeps the packaged service down.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$BIN/rvpp" ] || { echo "$BIN/rvpp missing: cargo build --release --bins" >&2; exit 2; }

cleanup() {
  [ -n "${RVPP_PID:-}" ] && kill "$RVPP_PID" 2>/dev/null && wait "$RVPP_PID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  for n in cli srv; do ip netns del "$T-$n" 2>/dev/null || true; done
  ip link del "$T-s" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/www"
# nginx workers run as www-data: the root and the file must be readable.
chmod 755 "$WORK" "$WORK/www"
head -c "$SIZE" /dev/urandom | base64 -w 76 | head -c "$SIZE" > "$WORK/www/index.html"
chmod 644 "$WORK/www/index.html"

ip netns add "$T-cli"
ip -n "$T-cli" link set lo up
ip link add "$T-s" type veth peer name "$T-c" netns "$T-cli"
ip -n "$T-cli" addr add "$CLI/24" dev "$T-c"
ip -n "$T-cli" link set "$T-c" up
# The root end says nothing of its own on rvpp's wire.
sysctl -qw "net.ipv6.conf.$T-s.disable_ipv6=1"

run_wrk() { # $1 = label; prints wrk's summary, sets RPS
  ip netns exec "$T-cli" wrk -t 1 -c 20 -d 1 "http://$SRV/index.html" >/dev/null # warm-up
  local out
  out=$(ip netns exec "$T-cli" wrk -t 1 -c "$CONNS" -d "$SECS" "http://$SRV/index.html")
  echo "--- $1"
  echo "$out"
  RPS=$(echo "$out" | awk '/^Requests\/sec:/{print $2}')
  if echo "$out" | grep -q "Non-2xx\|Socket errors"; then
    echo "  ($1: wrk reported errors, see above)"
  fi
}

wait_http() { # waits until the server answers a request from the client
  for _ in $(seq 100); do
    ip netns exec "$T-cli" bash -c "exec 3<>/dev/tcp/$SRV/80 && printf 'GET /index.html HTTP/1.0\r\n\r\n' >&3 && head -c 12 <&3" 2>/dev/null |
      grep -q "HTTP/1.. 200" && return 0
    sleep 0.1
  done
  echo "the server at $SRV:80 does not answer" >&2
  return 1
}

# --- rvpp ---
cat > "$WORK/startup.conf" <<CONF
unix { nodaemon cli-listen $SOCK log $WORK/rvpp.log startup-config $WORK/rvpp.cli }
buffers { buffers-per-numa 65536 }
CONF
cat > "$WORK/rvpp.cli" <<CLI
create host-interface name $T-s
set interface state host-$T-s up
set interface ip address host-$T-s $SRV/24
http static server www-root $WORK/www uri tcp://0.0.0.0/80 cache-size 64m
CLI
"$BIN/rvpp" -c "$WORK/startup.conf" 2>"$WORK/rvpp.err" &
RVPP_PID=$!
for _ in $(seq 50); do "$BIN/rvppctl" -s "$SOCK" show version >/dev/null 2>&1 && break; sleep 0.1; done
wait_http
run_wrk "rvpp http static server (1 main thread, af_packet)"
RVPP_RPS=$RPS
kill "$RVPP_PID"; wait "$RVPP_PID" 2>/dev/null || true; RVPP_PID=

# --- nginx, the same end of the same veth, same address ---
ip netns add "$T-srv"
ip -n "$T-srv" link set lo up
ip link set "$T-s" netns "$T-srv"
ip -n "$T-srv" addr add "$SRV/24" dev "$T-s"
ip -n "$T-srv" link set "$T-s" up
cat > "$WORK/nginx.conf" <<NGX
daemon on;
worker_processes $NGINX_WORKERS;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type text/html;
  client_body_temp_path $WORK/ngx-body;
  proxy_temp_path $WORK/ngx-proxy;
  fastcgi_temp_path $WORK/ngx-fastcgi;
  uwsgi_temp_path $WORK/ngx-uwsgi;
  scgi_temp_path $WORK/ngx-scgi;
  server {
    listen $SRV:80;
    root $WORK/www;
  }
}
NGX
ip netns exec "$T-srv" "$NGINX" -c "$WORK/nginx.conf" -p "$WORK"
wait_http
run_wrk "nginx ($NGINX_WORKERS worker process(es), kernel TCP)"
NGINX_RPS=$RPS

echo
echo "wrk -t 1 -c $CONNS -d $SECS, a $SIZE-byte file over veth:"
echo "  rvpp:  $RVPP_RPS requests/s"
echo "  nginx: $NGINX_RPS requests/s (worker_processes $NGINX_WORKERS)"
awk -v r="$RVPP_RPS" -v n="$NGINX_RPS" 'BEGIN { if (n > 0) printf "  rvpp/nginx: %.2fx\n", r / n }'
