"""A corpus of malformed frames sent at rvpp's af_packet interface from a
namespace, interleaved with legitimate pings (IPv4 and IPv6) whose replies
are counted. Used by tests/tests/ip_bad_input.rs, which checks that rvpp
stays up, answers every legitimate ping, and names the reasons for the bad
frames in `show errors`.

Usage: bad_input.py IFACE RVPP_MAC RVPP4 MY4 RVPP6 MY6 ROUTED4
  ROUTED4: an address rvpp routes back towards this namespace (for TTL 1).
Prints `bad <n>`, `unsendable <name> <error>` for frames the kernel refused,
`legit4 <sent> <replied>`, `legit6 <sent> <replied>`, and `reassembled
<fragments of the big ping's reply seen>`.
"""

import random
import socket
import sys
import time

from scapy.all import (ARP, ICMP, IP, UDP, AsyncSniffer, Ether, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA,
                       ICMPv6ND_NS, ICMPv6Unknown, IPOption_NOP, IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, Raw,
                       conf, fragment, get_if_hwaddr, in6_getnsma, in6_getnsmac, inet_ntop, inet_pton, raw)

conf.verb = 0
iface, rvpp_mac, rvpp4, my4, rvpp6, my6, routed4 = sys.argv[1:8]
me = get_if_hwaddr(iface)
LEGIT_ID = 0x4C47
BIG_ID = 0x4249
# Bad ARP/ND carry addresses no one uses, so no neighbor entry that the
# legitimate pings need can be touched by them.
OTHER4 = my4.rsplit(".", 1)[0] + ".77"
OTHER6 = my6.rsplit(":", 1)[0] + ":77"

replies = {4: set(), 6: set()}
big_reply_frags = [0]


def on_packet(p):
    if IP in p and p[IP].src == rvpp4 and ICMP in p:
        if p[ICMP].type == 0 and p[ICMP].id == LEGIT_ID:
            replies[4].add(p[ICMP].seq)
    if IP in p and p[IP].src == rvpp4 and p[IP].proto == 1 and (p[IP].flags.MF or p[IP].frag > 0):
        big_reply_frags[0] += 1
    if IPv6 in p and p[IPv6].src == rvpp6 and ICMPv6EchoReply in p and p[ICMPv6EchoReply].id == LEGIT_ID:
        replies[6].add(p[ICMPv6EchoReply].seq)


# A big receive buffer (past rmem_max: we are root), as the sniffer thread
# shares the GIL with the sender.
listen = conf.L2listen(iface=iface)
listen.ins.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 16 << 20)
sniffer = AsyncSniffer(opened_socket=listen, prn=on_packet, store=False)
sniffer.start()
time.sleep(0.5)
sock = conf.L2socket(iface=iface)

sent = {4: 0, 6: 0}
bad = 0


def legit():
    """One ping of each family (sequence numbers from 1)."""
    for fam in (4, 6):
        sent[fam] += 1
        if fam == 4:
            p = Ether(src=me, dst=rvpp_mac) / IP(src=my4, dst=rvpp4) / ICMP(id=LEGIT_ID, seq=sent[4]) / (b"L" * 32)
        else:
            p = Ether(src=me, dst=rvpp_mac) / IPv6(src=my6, dst=rvpp6) / ICMPv6EchoRequest(
                id=LEGIT_ID, seq=sent[6], data=b"L" * 32)
        sock.send(p)


def send_bad(name, frame):
    global bad
    data = frame if isinstance(frame, bytes) else raw(frame)
    try:
        sock.send(Raw(data))
        bad += 1
    except OSError as e:
        print(f"unsendable {name} {e}", flush=True)
    legit()


eth = Ether(src=me, dst=rvpp_mac)
mac = bytes.fromhex(rvpp_mac.replace(":", ""))
src = bytes.fromhex(me.replace(":", ""))


def eth_raw(ethertype, payload):
    return mac + src + ethertype.to_bytes(2, "big") + payload


ping4 = IP(src=my4, dst=rvpp4) / ICMP(id=0x0BAD, seq=1) / (b"x" * 16)

# --- Ethernet ---------------------------------------------------------------
send_bad("eth-6-bytes", mac)
send_bad("eth-13-bytes", (mac + src + b"\x08")[:13])
send_bad("eth-header-only-ip4", eth_raw(0x0800, b""))
send_bad("vlan-tag-truncated", eth_raw(0x8100, b"\x00"))
send_bad("qinq-truncated", eth_raw(0x88A8, b"\x00\x7b\x81\x00\x00"))

# --- IPv4 headers -----------------------------------------------------------
send_bad("ip4-10-bytes", eth_raw(0x0800, raw(ping4)[:10]))
send_bad("ip4-19-bytes", eth_raw(0x0800, raw(ping4)[:19]))
send_bad("ip4-version-7", eth / IP(version=7, src=my4, dst=rvpp4) / ICMP())
send_bad("ip4-ihl-4", eth / IP(ihl=4, src=my4, dst=rvpp4) / ICMP())
send_bad("ip4-ihl-0", eth / IP(ihl=0, src=my4, dst=rvpp4) / ICMP())
send_bad("ip4-ihl-15-short", eth_raw(0x0800, b"\x4f" + raw(ping4)[1:24]))
send_bad("ip4-len-gt-frame", eth / IP(len=1000, src=my4, dst=rvpp4) / ICMP())
send_bad("ip4-len-65535", eth / IP(len=65535, src=my4, dst=rvpp4) / ICMP())
send_bad("ip4-len-lt-header", eth / IP(len=10, src=my4, dst=rvpp4) / ICMP())
send_bad("ip4-len-0", eth / IP(len=0, src=my4, dst=rvpp4) / ICMP())
send_bad("ip4-len-lt-frame", eth / IP(len=28, src=my4, dst=rvpp4) / ICMP(id=0x0BAD) / (b"t" * 100))
send_bad("ip4-bad-checksum", eth / IP(chksum=0x1234, src=my4, dst=rvpp4) / ICMP())
send_bad("ip4-options", eth / IP(src=my4, dst=rvpp4, options=[IPOption_NOP()] * 4) / ICMP())
send_bad("ip4-ttl-0", eth / IP(ttl=0, src=my4, dst=rvpp4) / ICMP(id=0x0BAD))
send_bad("ip4-ttl-1-routed", eth / IP(ttl=1, src=my4, dst=routed4) / UDP(sport=1, dport=2))
send_bad("ip4-ttl-0-routed", eth / IP(ttl=0, src=my4, dst=routed4) / UDP(sport=1, dport=2))
send_bad("ip4-src-multicast", eth / IP(src="224.0.0.9", dst=rvpp4) / ICMP())
send_bad("ip4-src-zero", eth / IP(src="0.0.0.0", dst=rvpp4) / ICMP())
send_bad("ip4-to-broadcast", eth / IP(src=my4, dst="255.255.255.255") / ICMP())
send_bad("icmp-bad-checksum", eth / IP(src=my4, dst=rvpp4) / ICMP(chksum=0xBEEF))
send_bad("icmp-truncated", eth / IP(src=my4, dst=rvpp4, proto=1) / b"\x08\x00")
send_bad("icmp-unknown-type", eth / IP(src=my4, dst=rvpp4) / ICMP(type=42))
send_bad("udp-closed-port", eth / IP(src=my4, dst=rvpp4) / UDP(sport=1234, dport=9))
send_bad("udp-truncated", eth / IP(src=my4, dst=rvpp4, proto=17) / b"\x00\x01")
send_bad("tcp-truncated", eth / IP(src=my4, dst=rvpp4, proto=6) / b"\x00\x01\x00")
send_bad("proto-253", eth / IP(src=my4, dst=rvpp4, proto=253) / b"rvpp")

# --- IPv4 fragments ---------------------------------------------------------
body = raw(ICMP(id=0x0BAD, seq=2) / (b"f" * 40))  # 48 bytes
send_bad("frag-overlap-a", eth / IP(src=my4, dst=rvpp4, id=0x1001, flags="MF", frag=0, proto=1) / body[:24])
send_bad("frag-overlap-b", eth / IP(src=my4, dst=rvpp4, id=0x1001, frag=2, proto=1) / body[16:])
send_bad("frag-overlap-same-a", eth / IP(src=my4, dst=rvpp4, id=0x1002, flags="MF", frag=0, proto=1) / body[:16])
send_bad("frag-overlap-same-b", eth / IP(src=my4, dst=rvpp4, id=0x1002, flags="MF", frag=0, proto=1) / body[:16])
send_bad("frag-tiny-4", eth / IP(src=my4, dst=rvpp4, id=0x1003, flags="MF", frag=0, proto=1) / body[:4])
send_bad("frag-not-multiple-of-8", eth / IP(src=my4, dst=rvpp4, id=0x1004, flags="MF", frag=0, proto=1) / body[:12])
send_bad("frag-empty-last", eth / IP(src=my4, dst=rvpp4, id=0x1005, frag=3, proto=1))
send_bad("frag-huge-offset", eth / IP(src=my4, dst=rvpp4, id=0x1006, frag=8189, proto=1) / (b"h" * 100))
send_bad("frag-max-offset", eth / IP(src=my4, dst=rvpp4, id=0x1007, flags="MF", frag=0x1FFF, proto=17) / (b"m" * 64))
for k in range(70):
    send_bad(f"frag-many-{k}", eth / IP(src=my4, dst=rvpp4, id=0x1008, flags="MF", frag=k, proto=1) / (b"n" * 8))
# Never completed: left for the reassembly timeout.
send_bad("frag-first-only", eth / IP(src=my4, dst=rvpp4, id=0x1009, flags="MF", frag=0, proto=1) / body[:24])

# A legitimate fragmented ping (3000 bytes): reassembled and answered (the
# reply leaves fragmented too: it is bigger than the MTU).
for f in fragment(IP(src=my4, dst=rvpp4, id=0x100A) / ICMP(id=BIG_ID, seq=1) / (b"B" * 3000), fragsize=1400):
    sock.send(eth / f)

# --- IPv6 -------------------------------------------------------------------
ping6 = IPv6(src=my6, dst=rvpp6) / ICMPv6EchoRequest(id=0x0BAD, data=b"x" * 16)
send_bad("ip6-20-bytes", eth_raw(0x86DD, raw(ping6)[:20]))
send_bad("ip6-39-bytes", eth_raw(0x86DD, raw(ping6)[:39]))
send_bad("ip6-version-4", eth_raw(0x86DD, b"\x40" + raw(ping6)[1:]))
send_bad("ip6-plen-gt-frame", eth / IPv6(plen=500, src=my6, dst=rvpp6) / ICMPv6EchoRequest(id=0x0BAD))
send_bad("ip6-plen-65535", eth / IPv6(plen=65535, src=my6, dst=rvpp6) / ICMPv6EchoRequest(id=0x0BAD))
send_bad("ip6-plen-lt-frame", eth / IPv6(plen=4, src=my6, dst=rvpp6) / ICMPv6EchoRequest(id=0x0BAD, data=b"t" * 64))
send_bad("ip6-plen-0", eth / IPv6(plen=0, src=my6, dst=rvpp6) / ICMPv6EchoRequest(id=0x0BAD))
send_bad("ip6-hlim-0", eth / IPv6(hlim=0, src=my6, dst=rvpp6) / ICMPv6EchoRequest(id=0x0BAD))
send_bad("ip6-src-multicast", eth / IPv6(src="ff02::1", dst=rvpp6) / ICMPv6EchoRequest(id=0x0BAD))
send_bad("icmp6-bad-checksum", eth / IPv6(src=my6, dst=rvpp6) / ICMPv6EchoRequest(id=0x0BAD, cksum=0x1234))
send_bad("icmp6-truncated", eth / IPv6(src=my6, dst=rvpp6, nh=58) / b"\x80\x00")
send_bad("ip6-hop-by-hop", eth / IPv6(src=my6, dst=rvpp6) / IPv6ExtHdrHopByHop() / ICMPv6EchoRequest(id=0x0BAD))
send_bad("ip6-fragment", eth / IPv6(src=my6, dst=rvpp6) / IPv6ExtHdrFragment(m=1, id=7) / (b"6" * 16))
send_bad("udp6-closed-port", eth / IPv6(src=my6, dst=rvpp6) / UDP(sport=1234, dport=9))

# --- Neighbor discovery -----------------------------------------------------
sn = inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, rvpp6)))
sn_mac = in6_getnsmac(inet_pton(socket.AF_INET6, sn))
nd_eth = Ether(src=me, dst=sn_mac)
lladdr = src
ns = ICMPv6ND_NS(tgt=rvpp6)
send_bad("ns-zero-length-option", nd_eth / IPv6(src=OTHER6, dst=sn, hlim=255) / ns / (b"\x01\x00" + lladdr))
send_bad("ns-truncated-option", nd_eth / IPv6(src=OTHER6, dst=sn, hlim=255) / ns / (b"\x01\x02" + lladdr))
send_bad("ns-option-header-only", nd_eth / IPv6(src=OTHER6, dst=sn, hlim=255) / ns / b"\x01")
send_bad("ns-hlim-64", nd_eth / IPv6(src=OTHER6, dst=sn, hlim=64) / ns)
send_bad("ns-code-1", nd_eth / IPv6(src=OTHER6, dst=sn, hlim=255) / ICMPv6ND_NS(tgt=rvpp6, code=1))
send_bad("ns-multicast-target", nd_eth / IPv6(src=OTHER6, dst=sn, hlim=255) / ICMPv6ND_NS(tgt="ff02::1"))
send_bad("ns-too-short", nd_eth / IPv6(src=OTHER6, dst=sn, hlim=255) / ICMPv6Unknown(type=135, msgbody=b"\x00" * 6))
send_bad("ns-dad-with-option",
         nd_eth / IPv6(src="::", dst=sn, hlim=255) / ns / (b"\x01\x01" + lladdr))
na = ICMPv6ND_NA(tgt=OTHER6, R=0, S=0, O=1)
send_bad("na-zero-length-option", eth / IPv6(src=OTHER6, dst=rvpp6, hlim=255) / na / (b"\x02\x00" + lladdr))
send_bad("na-truncated-option", eth / IPv6(src=OTHER6, dst=rvpp6, hlim=255) / na / (b"\x02\x03" + lladdr))
send_bad("na-solicited-to-multicast",
         Ether(src=me, dst="33:33:00:00:00:01") / IPv6(src=OTHER6, dst="ff02::1", hlim=255)
         / ICMPv6ND_NA(tgt=OTHER6, S=1))
send_bad("na-too-short", eth / IPv6(src=OTHER6, dst=rvpp6, hlim=255) / ICMPv6Unknown(type=136, msgbody=b"\x00" * 2))

# --- ARP ----------------------------------------------------------------------
bcast = Ether(src=me, dst="ff:ff:ff:ff:ff:ff")
good_arp = ARP(op=1, hwsrc=me, psrc=OTHER4, pdst=rvpp4)
send_bad("arp-10-bytes", eth_raw(0x0806, raw(good_arp)[:10]))
send_bad("arp-27-bytes", eth_raw(0x0806, raw(good_arp)[:27]))
send_bad("arp-hwlen-8", bcast / ARP(op=1, hwlen=8, hwsrc=me, psrc=OTHER4, pdst=rvpp4))
send_bad("arp-plen-6", bcast / ARP(op=1, plen=6, hwsrc=me, psrc=OTHER4, pdst=rvpp4))
send_bad("arp-hwlen-0", bcast / ARP(op=1, hwlen=0, plen=0, hwsrc=me, psrc=OTHER4, pdst=rvpp4))
send_bad("arp-hwtype-6", bcast / ARP(op=1, hwtype=6, hwsrc=me, psrc=OTHER4, pdst=rvpp4))
send_bad("arp-ptype-ip6", bcast / ARP(op=1, ptype=0x86DD, hwsrc=me, psrc=OTHER4, pdst=rvpp4))
send_bad("arp-opcode-9", bcast / ARP(op=9, hwsrc=me, psrc=OTHER4, pdst=rvpp4))
send_bad("arp-sender-multicast", bcast / ARP(op=1, hwsrc="01:00:5e:00:00:01", psrc=OTHER4, pdst=rvpp4))
send_bad("arp-sender-not-l2-source", bcast / ARP(op=1, hwsrc="02:00:00:00:00:77", psrc=OTHER4, pdst=rvpp4))

# --- Random bytes after each Ethernet type ------------------------------------
rng = random.Random(218)
for k in range(300):
    ethertype = rng.choice([0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8])
    payload = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 120)))
    if ethertype == 0x0800 and payload and rng.random() < 0.5:
        payload = b"\x45" + payload[1:]
    if ethertype == 0x86DD and payload and rng.random() < 0.5:
        payload = b"\x60" + payload[1:]
    send_bad(f"random-{k}", eth_raw(ethertype, payload))

# Replies still in flight: wait for them (bounded), then report.
deadline = time.time() + 10
while time.time() < deadline and (len(replies[4]) < sent[4] or len(replies[6]) < sent[6] or not big_reply_frags[0]):
    time.sleep(0.1)
sniffer.stop()
missing4 = sorted(set(range(1, sent[4] + 1)) - replies[4])[:20]
missing6 = sorted(set(range(1, sent[6] + 1)) - replies[6])[:20]
print(f"bad {bad}")
print(f"legit4 {sent[4]} {len(replies[4] & set(range(1, sent[4] + 1)))} missing {missing4}")
print(f"legit6 {sent[6]} {len(replies[6] & set(range(1, sent[6] + 1)))} missing {missing6}")
print(f"reassembled {big_reply_frags[0]}")
