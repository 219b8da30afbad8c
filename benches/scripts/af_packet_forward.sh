#!/usr/bin/env bash
# Forwarding rate over veth: rvpp on af_packet, rvpp on AF_XDP and the Linux
# kernel, same traffic, one run. trafgen (netsniff-ng, --cpus 1) sends
# 64-byte UDP frames from a sender namespace; the router (rvpp in the root
# namespace on af_packet host-interfaces, then on AF_XDP interfaces, then the
# kernel of a third namespace) forwards them to a receiver namespace whose
# veth does not own the next hop's MAC, so the receiver drops them cheaply as
# not-for-me. The rate is the receiver veth's rx_packets over the measured
# window. rvpp polls its input interface (rx-mode polling) in both runs.
#
# Usage (root): [FRAME=64] benches/scripts/af_packet_forward.sh [seconds] [native|skb]
#   the second argument is the AF_XDP attach mode (default: native first);
#   FRAME is the Ethernet frame size without FCS, 64 to 1514.
# Needs: iproute2, netsniff-ng (trafgen), the release binaries
# (RVPP_BIN_DIR to take them from elsewhere).
set -euo pipefail
SECS=${1:-10}
XDP_MODE=${2:-}
FRAME=${FRAME:-64}
[ "$FRAME" -ge 64 ] && [ "$FRAME" -le 1514 ] || { echo "FRAME=$FRAME: 64 to 1514" >&2; exit 2; }
XDP_HW=
NODES=
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${RVPP_BIN_DIR:-$ROOT/target/release}
T=afpb$$
WORK=$(mktemp -d)
SOCK=$WORK/cli.sock
command -v trafgen >/dev/null || { echo "trafgen missing: apt-get install -y netsniff-ng" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }

cleanup() {
  [ -n "${RVPP_PID:-}" ] && kill "$RVPP_PID" 2>/dev/null && wait "$RVPP_PID" 2>/dev/null || true
  for n in snd rcv rtr; do ip netns del "$T-$n" 2>/dev/null || true; done
  ip link del "$T-s" 2>/dev/null || true; ip link del "$T-r" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# sender/receiver namespaces; the router side of each veth stays in the root
# namespace (for rvpp) or moves into $T-rtr (for the kernel).
setup_links() {
  ip netns add "$T-snd"; ip netns add "$T-rcv"
  ip link add "$T-s" type veth peer name "$T-sp"
  ip link add "$T-r" type veth peer name "$T-rp"
  ip link set "$T-sp" netns "$T-snd"; ip link set "$T-rp" netns "$T-rcv"
  ip -n "$T-snd" addr add 10.201.1.2/24 dev "$T-sp"; ip -n "$T-snd" link set "$T-sp" up
  ip -n "$T-rcv" addr add 10.201.2.2/24 dev "$T-rp"; ip -n "$T-rcv" link set "$T-rp" up
  ip link set "$T-s" up; ip link set "$T-r" up
}

trafgen_cfg() { # $1 = router MAC on the sender side
  local m; m=$(echo "$1" | sed 's/^/0x/; s/:/, 0x/g')
  local sm; sm=$(ip -n "$T-snd" link show "$T-sp" | awk '/ether/{print $2}' | sed 's/^/0x/; s/:/, 0x/g')
  local ip udp; ip=$((FRAME - 14)); udp=$((FRAME - 34))
  ip=$(printf '0x%02x, 0x%02x' $((ip >> 8)) $((ip & 255)))
  udp=$(printf '0x%02x, 0x%02x' $((udp >> 8)) $((udp & 255)))
  cat > "$WORK/udp.cfg" <<CFG
{
  $m, $sm, 0x08, 0x00,
  0x45, 0x00, $ip, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, csumip(14, 33),
  10, 201, 1, 2,  10, 201, 3, 9,
  0x04, 0xd2, 0x16, 0x2e, $udp, 0x00, 0x00,
  fill(0x41, $((FRAME - 42))),
}
CFG
}

measure() { # sets PPS: packets/s at the receiver veth over $SECS (no subshell:
  # the EXIT trap must not run in one)
  # Its own session: trafgen signals its whole process group when stopped.
  setsid ip netns exec "$T-snd" trafgen --cpus 1 --dev "$T-sp" --conf "$WORK/udp.cfg" --qdisc-path -q >/dev/null 2>&1 &
  local tg=$!
  sleep 1
  local a b; a=$(ip netns exec "$T-rcv" cat /sys/class/net/$T-rp/statistics/rx_packets)
  sleep "$SECS"
  b=$(ip netns exec "$T-rcv" cat /sys/class/net/$T-rp/statistics/rx_packets)
  kill -INT "$tg" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$tg" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$tg" 2>/dev/null || true
  wait "$tg" 2>/dev/null || true
  PPS=$(( (b - a) / SECS ))
}

run_rvpp() { # $1 = af_packet | af_xdp; sets PPS
  local s r
  if [ "$1" = af_packet ]; then
    s=host-$T-s; r=host-$T-r
    printf 'create host-interface name %s\ncreate host-interface name %s\n' "$T-s" "$T-r" > "$WORK/rvpp.cli"
  else
    s=$T-s; r=$T-r
    printf 'create interface af_xdp host-if %s %s\ncreate interface af_xdp host-if %s %s\n' \
      "$T-s" "${XDP_MODE:+mode $XDP_MODE}" "$T-r" "${XDP_MODE:+mode $XDP_MODE}" > "$WORK/rvpp.cli"
  fi
  cat >> "$WORK/rvpp.cli" <<CLI
set interface state $s up
set interface state $r up
set interface ip address $s 10.201.1.1/24
set interface ip address $r 10.201.2.1/24
set ip neighbor $r 10.201.2.9 02:00:00:00:aa:bb
ip route add 10.201.3.0/24 via 10.201.2.9 $r
set interface rx-mode $s polling
CLI
  "$BIN/rvpp" -c "$WORK/startup.conf" 2>"$WORK/rvpp-$1.log" &
  RVPP_PID=$!
  for _ in $(seq 50); do "$BIN/rvppctl" -s "$SOCK" show version >/dev/null 2>&1 && break; sleep 0.1; done
  local rmac
  rmac=$("$BIN/rvppctl" -s "$SOCK" show hardware-interfaces "$s" | awk '/Ethernet address/{print $3}')
  [ -n "$rmac" ] || { echo "rvpp on $1: no interface $s:" >&2; cat "$WORK/rvpp-$1.log" >&2; exit 1; }
  trafgen_cfg "$rmac"
  "$BIN/rvppctl" -s "$SOCK" clear runtime >/dev/null
  measure
  # Cycles per packet of the input node (rx) and interface-output (tx).
  local input=af-packet-input
  [ "$1" = af_xdp ] && input=af-xdp-input
  NODES=$("$BIN/rvppctl" -s "$SOCK" show runtime | awk -v i="$input" '
    $1 == i { rx = $6; vpc = $7 } $1 == "interface-output" { tx = $6 }
    END { printf "%s %s cycles/packet, interface-output %s, %s packets/call", i, rx, tx, vpc }')
  [ "$1" = af_xdp ] && XDP_HW=$("$BIN/rvppctl" -s "$SOCK" show hardware-interfaces "$s" | grep -m1 'af_xdp host-if')
  kill "$RVPP_PID"; wait "$RVPP_PID" 2>/dev/null || true; RVPP_PID=
}

setup_links
cat > "$WORK/startup.conf" <<CONF
unix { nodaemon cli-listen $SOCK startup-config $WORK/rvpp.cli }
CONF
# --- rvpp on af_packet, then on AF_XDP ---
run_rvpp af_packet; RVPP_PPS=$PPS; RVPP_NODES=$NODES
run_rvpp af_xdp; XDP_PPS=$PPS; XDP_NODES=$NODES
# --- kernel ---
ip netns add "$T-rtr"
ip link set "$T-s" netns "$T-rtr"; ip link set "$T-r" netns "$T-rtr"
ip -n "$T-rtr" addr add 10.201.1.1/24 dev "$T-s"; ip -n "$T-rtr" addr add 10.201.2.1/24 dev "$T-r"
ip -n "$T-rtr" link set "$T-s" up; ip -n "$T-rtr" link set "$T-r" up
ip netns exec "$T-rtr" sysctl -qw net.ipv4.ip_forward=1
ip -n "$T-rtr" neigh add 10.201.2.9 lladdr 02:00:00:00:aa:bb dev "$T-r" nud permanent
ip -n "$T-rtr" route add 10.201.3.0/24 via 10.201.2.9
KMAC=$(ip -n "$T-rtr" link show "$T-s" | awk '/ether/{print $2}')
trafgen_cfg "$KMAC"
measure; KERNEL_PPS=$PPS
echo "forwarding over veth, ${FRAME}-byte UDP frames, trafgen --cpus 1, ${SECS}s:"
echo "  rvpp af_packet: $RVPP_PPS packets/s ($RVPP_NODES)"
echo "  rvpp AF_XDP:    $XDP_PPS packets/s ($XDP_NODES)"
echo "                  ($(echo $XDP_HW))"
echo "  kernel:         $KERNEL_PPS packets/s"
awk -v r="$RVPP_PPS" -v x="$XDP_PPS" -v k="$KERNEL_PPS" \
  'BEGIN { if (k > 0) printf "  rvpp/kernel: af_packet %.2fx, AF_XDP %.2fx\n", r / k, x / k }'
