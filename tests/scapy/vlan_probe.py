"""Probes rvpp's dot1q sub-interface from a namespace with scapy (the
kernel here may lack 802.1Q support): tagged ARP, ICMP echo, ND and ICMPv6
echo to the sub-interface's addresses must be answered with the same tag;
the sub-interface's address must not be resolvable untagged, nor on another
VLAN; the parent's address must be, untagged.

Usage: vlan_probe.py IFACE RVPP_MAC VLAN SUB_IP4 SUB_IP6 MY_SUB_IP4
                     MY_SUB_IP6 PARENT_IP4 MY_PARENT_IP4
Prints one `name result detail` line per probe; exits 0 (the test judges).
"""

import sys

from probes import first_answer, report, silent as silent_on
from scapy.all import (ARP, ICMP, IP, Dot1Q, Ether, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA,
                       ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6, conf, get_if_hwaddr, in6_getnsma, in6_getnsmac,
                       inet_pton, inet_ntop, socket)

conf.verb = 0
(iface, rvpp_mac, vlan, sub4, sub6, my4, my6, parent4, my_parent4) = sys.argv[1:10]
vlan = int(vlan)
me = get_if_hwaddr(iface)


def tag_of(p):
    return p[Dot1Q].vlan if Dot1Q in p else None


def ask(name, pkt, want, tagged):
    """Sends `pkt` and checks the answer is a `want` with the right tag."""
    ans = first_answer(pkt, iface)
    if ans is None:
        report(name, False, "no answer")
        return
    tag = tag_of(ans)
    ok = want in ans and tag == (vlan if tagged else None)
    report(name, ok, f"tag={tag} {ans.summary()}")


def silent(name, pkt):
    silent_on(name, pkt, iface)


bcast = "ff:ff:ff:ff:ff:ff"
q = Dot1Q(vlan=vlan)

# Tagged: ARP, ICMP echo, ND, ICMPv6 echo to the sub-interface.
ask("tagged-arp", Ether(src=me, dst=bcast) / q / ARP(op=1, hwsrc=me, psrc=my4, pdst=sub4), ARP, True)
ask("tagged-icmp", Ether(src=me, dst=rvpp_mac) / q / IP(src=my4, dst=sub4) / ICMP(id=0x5151, seq=1),
    ICMP, True)
ns_dst = inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, sub6)))
ask("tagged-nd",
    Ether(src=me, dst=in6_getnsmac(inet_pton(socket.AF_INET6, ns_dst))) / q
    / IPv6(src=my6, dst=ns_dst, hlim=255) / ICMPv6ND_NS(tgt=sub6) / ICMPv6NDOptSrcLLAddr(lladdr=me),
    ICMPv6ND_NA, True)
ask("tagged-icmp6", Ether(src=me, dst=rvpp_mac) / q / IPv6(src=my6, dst=sub6) / ICMPv6EchoRequest(id=0x5151, seq=1),
    ICMPv6EchoReply, True)

# Untagged, or on another VLAN: the sub-interface's address is not there.
silent("untagged-arp-for-sub", Ether(src=me, dst=bcast) / ARP(op=1, hwsrc=me, psrc=my_parent4, pdst=sub4))
silent("other-vlan-arp-for-sub",
       Ether(src=me, dst=bcast) / Dot1Q(vlan=vlan + 1) / ARP(op=1, hwsrc=me, psrc=my4, pdst=sub4))
# ...while the parent answers for its own address, untagged.
ask("untagged-arp-for-parent", Ether(src=me, dst=bcast) / ARP(op=1, hwsrc=me, psrc=my_parent4, pdst=parent4), ARP,
    False)
