#!/usr/bin/env bash
# memif packet rates, DPDK testpmd <-> testpmd vs rvpp <-> testpmd, one run,
# 64-byte frames, one forwarding core per side:
#   1. baseline: testpmd (server, txonly, core 1) -> net_memif -> testpmd
#      (client, rxonly, core 0); the receiver's Rx-pps.
#   2. rvpp tx: rvpp (master, graph on core 0; pg -> l2 xconnect -> memif
#      tx) -> testpmd (slave, rxonly, core 1); testpmd's Rx-pps.
#   3. rvpp rx: testpmd (slave, txonly, core 1) -> rvpp (memif-input ->
#      ethernet-input -> l2 xconnect -> null tx, core 0); rvpp's rx rate.
#   4. loop (as VPP is measured): rvpp pg -> memif -> testpmd io -> memif ->
#      rvpp; rvpp's memif rx rate.
# For rvpp it also prints cycles/packet of memif-input and of
# interface-output (memif tx) from `show runtime`. The memif rx queue polls.
# Only same-run ratios mean anything: the host places the vCPUs.
#
# Usage (root): benches/scripts/memif_testpmd.sh [seconds]
# Needs: dpdk-testpmd (Debian dpdk-dev), the release binaries, 2 cores.
set -euo pipefail
SECS=${1:-8}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${RVPP_BIN_DIR:-$ROOT/target/release}
WORK=$(mktemp -d)
SOCK=$WORK/cli.sock
command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd missing: apt-get install -y dpdk-dev" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
  rm -rf /var/run/dpdk/rvpp-mb-$$-*
}
trap cleanup EXIT

# testpmd NAME ROLE MODE LCORES MAIN: one net_memif port on $WORK/NAME.sock
# (server) or the given socket, stats every second into $WORK/NAME.log.
# stdin is a pipe that stays open (testpmd quits when stdin ends).
testpmd() {
  local name=$1 role=$2 mode=$3 lcores=$4 main=$5 sock=$6
  mkfifo "$WORK/$name.in"
  sleep 100000 >"$WORK/$name.in" &
  PIDS+=($!)
  dpdk-testpmd --no-huge --no-pci -m 1024 -l "$lcores" --main-lcore "$main" --file-prefix "rvpp-mb-$$-$name" \
    --vdev="net_memif0,role=$role,socket=$sock,socket-abstract=no" -- \
    --total-num-mbufs=32768 --port-topology=loop --forward-mode="$mode" --stats-period 1 \
    <"$WORK/$name.in" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}

stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

# Mean of the last $SECS-2 Rx-pps samples of a testpmd log (the first two
# seconds are ramp-up).
rx_pps() {
  tr -d '\r' <"$1" | grep -ao 'Rx-pps: *[0-9]*' | awk '{print $2}' | tail -n "$((SECS - 2))" |
    awk '{s+=$1; n++} END {if (n) printf "%.0f", s/n; else print 0}'
}

wait_log() { # file pattern
  for _ in $(seq 100); do grep -aq "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; tail -20 "$1" >&2; exit 1
}

ctl() { "$BIN/rvppctl" -s "$SOCK" "$@"; }

start_rvpp() {
  cat >"$WORK/startup.conf" <<CONF
unix {
  nodaemon
  cli-listen $SOCK
}
cpu {
  main-core 0
}
buffers {
  buffers-per-numa 65536
}
CONF
  "$BIN/rvpp" -c "$WORK/startup.conf" 2>"$WORK/rvpp.err" &
  PIDS+=($!)
  for _ in $(seq 100); do ctl show version >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "rvpp did not start" >&2; cat "$WORK/rvpp.err" >&2; exit 1
}

wait_connected() {
  for _ in $(seq 100); do ctl show memif | grep -q 'state connected' && return 0; sleep 0.1; done
  echo "memif did not connect" >&2; ctl show memif >&2; exit 1
}

counter() { # interface counter-name
  ctl show interface | awk -v ifn="$1" -v c="$2" '
    $1 ~ /^[a-z]/ && NF >= 3 && $2 ~ /^[0-9]+$/ { cur = $1; $1=$2=$3=$4=""; }
    cur == ifn { line = $0; if (index(line, c)) { n = split(line, w, " "); print w[n]; exit } }'
}

clocks() { # node: clocks per vector from show runtime
  ctl show runtime | awk -v n="$1" '$1 == n { print $6 }'
}

PG='IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 192.168.1.10 -> 192.168.1.11 UDP: 1234 -> 5678 incrementing 22'

# rvpp with memif1/0 (master) on $WORK/memif.sock; $1: l2 wiring
rvpp_setup() {
  start_rvpp
  ctl create memif socket id 1 filename "$WORK/memif.sock" >/dev/null
  ctl create interface memif id 0 socket-id 1 master rx-mode polling >/dev/null
  ctl create packet-generator interface pg0 >/dev/null
  ctl create null interface >/dev/null
  for i in pg0 memif1/0 null0; do ctl set interface state "$i" up; done
}

echo "== 1. testpmd txonly -> net_memif -> testpmd rxonly (baseline)"
# The DPDK client sometimes misses the server on its first attempt and
# then receives nothing: try again (up to three times) rather than report 0.
BASE=0
for attempt in 1 2 3; do
  rm -f "$WORK/srv.in" "$WORK/cli.in" "$WORK/base.sock"
  testpmd srv server txonly 0,1 0 "$WORK/base.sock"
  wait_log "$WORK/srv.log" "Port 0:"
  testpmd cli client rxonly 0,1 1 "$WORK/base.sock"
  sleep "$SECS"
  BASE=$(rx_pps "$WORK/cli.log")
  stop_all
  [ "$BASE" -gt 0 ] && break
  echo "   attempt $attempt: the testpmd pair exchanged nothing, again" >&2
done
echo "   $BASE pps"

echo "== 2. rvpp pg -> memif tx -> testpmd rxonly"
rvpp_setup
ctl set interface l2 xconnect pg0 memif1/0
testpmd rx client rxonly 0,1 0 "$WORK/memif.sock"
wait_connected
ctl "packet-generator new { name tx limit 0 size 64-64 node ethernet-input interface pg0 data { $PG } }" >/dev/null
ctl packet-generator enable-stream tx
sleep 1
ctl clear runtime
sleep "$((SECS - 1))"
TX=$(rx_pps "$WORK/rx.log")
TXCLK=$(clocks interface-output)
stop_all
echo "   $TX pps (interface-output incl. memif tx: $TXCLK clocks/packet)"

echo "== 3. testpmd txonly -> memif rx -> rvpp (l2 xconnect to null)"
rvpp_setup
ctl set interface l2 xconnect memif1/0 null0
testpmd gen client txonly 0,1 0 "$WORK/memif.sock"
wait_connected
sleep 2
ctl clear interfaces
ctl clear runtime
sleep "$((SECS - 2))"
RXN=$(counter memif1/0 "rx packets")
RXCLK=$(clocks memif-input)
RX=$((RXN / (SECS - 2)))
stop_all
echo "   $RX pps (memif-input: $RXCLK clocks/packet)"

echo "== 4. loop: rvpp pg -> memif -> testpmd io -> memif -> rvpp"
rvpp_setup
ctl set interface l2 xconnect pg0 memif1/0
ctl set interface l2 xconnect memif1/0 null0
testpmd io client io 0,1 0 "$WORK/memif.sock"
wait_connected
ctl "packet-generator new { name lp limit 0 size 64-64 node ethernet-input interface pg0 data { $PG } }" >/dev/null
ctl packet-generator enable-stream lp
sleep 2
ctl clear interfaces
ctl clear runtime
sleep "$((SECS - 2))"
LN=$(counter memif1/0 "rx packets")
LOOP=$((LN / (SECS - 2)))
LRX=$(clocks memif-input)
LTX=$(clocks interface-output)
stop_all
echo "   $LOOP pps back into rvpp (memif-input $LRX, interface-output $LTX clocks/packet)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mpps() { awk -v a="$1" 'BEGIN { printf "%.2f", a / 1e6 }'; }
echo
echo "testpmd <-> testpmd        $(mpps "$BASE") Mpps"
echo "rvpp -> testpmd (rvpp tx)  $(mpps "$TX") Mpps  ($(ratio "$TX" "$BASE")x baseline)"
echo "testpmd -> rvpp (rvpp rx)  $(mpps "$RX") Mpps  ($(ratio "$RX" "$BASE")x baseline)"
echo "rvpp loop via testpmd io   $(mpps "$LOOP") Mpps"
