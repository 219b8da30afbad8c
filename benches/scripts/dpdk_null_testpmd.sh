#!/usr/bin/env bash
# DPDK net_null forwarding, rvpp vs dpdk-testpmd, one run, one core each,
# 64-byte packets:
#   1. testpmd: io forwarding between net_null0 and net_null1 (both ways),
#      its own `--record-core-cycles` figure (CPU cycles/packet).
#   2. rvpp: `rvpp-perf dpdk-null` (the same two null vdevs, dpdk-input ->
#      ethernet-input -> l2 xconnect -> interface-output -> dpdk tx, both
#      ways), cycles/packet of the whole graph from its runtime counters.
# Prints both and rvpp's ratio. Only same-run ratios mean anything: the
# host places the vCPUs.
#
# Usage (root): benches/scripts/dpdk_null_testpmd.sh [seconds]
# Needs: dpdk-testpmd (Debian dpdk-dev) and rvpp-perf built with DPDK:
#   cargo build --release -p rvpp-benches --features rvpp-drivers/dpdk
set -euo pipefail
SECS=${1:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${RVPP_BIN_DIR:-$ROOT/target/release}
command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd missing: apt-get install -y dpdk-dev" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
PREFIX=rvpp-null-$$
trap 'rm -rf /var/run/dpdk/$PREFIX' EXIT

tp=$( (printf 'start\n'; sleep "$SECS"; printf 'stop\n'; sleep 1; printf 'quit\n') |
  dpdk-testpmd --no-huge --no-pci -m 512 -l 0,1 --main-lcore 0 --file-prefix "$PREFIX" \
    --vdev net_null0 --vdev net_null1 -- -i --forward-mode=io --record-core-cycles \
    --total-num-mbufs=32768 2>&1 | sed -n 's/.*CPU cycles\/packet=\([0-9.]*\).*/\1/p' | tail -1)
[ -n "$tp" ] || { echo "testpmd printed no cycles/packet" >&2; exit 1; }

out=$("$BIN/rvpp-perf" dpdk-null "$SECS" 2>/dev/null)
echo "$out" | grep -v '^dpdk-null:'
rv=$(echo "$out" | sed -n 's/^dpdk-null: \([0-9.]*\) cycles\/packet forwarding.*/\1/p')
mpps=$(echo "$out" | sed -n 's/.*, \([0-9.]*\) Mpps$/\1/p')
[ -n "$rv" ] || { echo "rvpp-perf printed no figure (built with --features rvpp-drivers/dpdk?)" >&2; exit 1; }
printf '\n%-40s %10s\n' "net_null0 <-> net_null1, 64 B" "cycles/pkt"
printf '%-40s %10s\n' "dpdk-testpmd io forwarding" "$tp"
printf '%-40s %10s  (%s Mpps)\n' "rvpp (ethernet-input, l2 xconnect)" "$rv" "$mpps"
awk -v a="$rv" -v b="$tp" 'BEGIN { printf "rvpp / testpmd: %.2fx (bar: <= 1.3x)\n", a / b }'
