"""Probes rvpp's QinQ sub-interfaces from a namespace with scapy (the
kernel here may lack 802.1Q support): ARP and ICMP echo over each stack of
two tags must be answered over the same stack, with the outer TPID the
sub-interface was created with (0x8100 for `dot1q X inner-dot1q Y`, 0x88a8
for `dot1ad X inner-dot1q Y`); the same tags under the other outer TPID
must get no answer; a priority-tagged (VLAN 0) ARP request for the parent's
address must be answered.

Usage: qinq_probe.py IFACE RVPP_MAC PARENT_IP4 MY_PARENT_IP4
                     TPID:OUTER:INNER:SUB_IP4:MY_IP4 ...
Prints one `name result detail` line per probe; exits 0 (the test judges).
"""

import sys

from probes import first_answer, report, silent as silent_on
from scapy.all import ARP, ICMP, IP, Dot1AD, Dot1Q, Ether, conf, get_if_hwaddr

conf.verb = 0
iface, rvpp_mac, parent4, my_parent4 = sys.argv[1:5]
stacks = [s.split(":") for s in sys.argv[5:]]
me = get_if_hwaddr(iface)
bcast = "ff:ff:ff:ff:ff:ff"


def tags(p):
    """(outer TPID, [VLAN ids]) of a frame."""
    out, vids, layer = p[Ether].type, [], p[Ether].payload
    while isinstance(layer, (Dot1Q, Dot1AD)):
        vids.append(layer.vlan)
        layer = layer.payload
    return out, vids


def stack(tpid, outer, inner):
    first = Dot1AD(vlan=outer) if tpid == 0x88a8 else Dot1Q(vlan=outer)
    return first / Dot1Q(vlan=inner)


def ask(name, pkt, want, tpid, vids):
    ans = first_answer(pkt, iface)
    if ans is None:
        report(name, False, "no answer")
        return
    got = tags(ans)
    ok = want in ans and got == (tpid, vids)
    report(name, ok, f"outer=0x{got[0]:04x} vlans={got[1]} {ans.summary()}")


def silent(name, pkt):
    silent_on(name, pkt, iface)


for tpid, outer, inner, sub4, my4 in stacks:
    tpid, outer, inner = int(tpid, 16), int(outer), int(inner)
    other = 0x8100 if tpid == 0x88a8 else 0x88a8
    tag = f"{outer}.{inner}"
    ask(f"qinq-arp-{tag}",
        Ether(src=me, dst=bcast, type=tpid) / stack(tpid, outer, inner) / ARP(op=1, hwsrc=me, psrc=my4, pdst=sub4),
        ARP, tpid, [outer, inner])
    ask(f"qinq-icmp-{tag}",
        Ether(src=me, dst=rvpp_mac, type=tpid) / stack(tpid, outer, inner) / IP(src=my4, dst=sub4)
        / ICMP(id=0x5252, seq=outer), ICMP, tpid, [outer, inner])
    silent(f"qinq-other-tpid-{tag}",
           Ether(src=me, dst=bcast, type=other) / stack(other, outer, inner)
           / ARP(op=1, hwsrc=me, psrc=my4, pdst=sub4))

# Priority-tagged (VLAN 0): the parent's own traffic.
pkt = Ether(src=me, dst=bcast, type=0x8100) / Dot1Q(vlan=0, prio=3) / ARP(op=1, hwsrc=me, psrc=my_parent4,
                                                                           pdst=parent4)
ans = first_answer(pkt, iface)
report("priority-tagged-arp-for-parent", ans is not None and ARP in ans and ans[ARP].psrc == parent4,
       "no answer" if ans is None else ans.summary())
