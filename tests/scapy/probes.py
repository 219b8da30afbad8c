"""What the probe scripts share: one `name result detail` line per probe,
an answer awaited with retries, and silence checked."""

from scapy.all import srp1

TIMEOUT = 2


def report(name, ok, detail):
    print(f"{name} {'ok' if ok else 'FAIL'} {detail}", flush=True)


def first_answer(pkt, iface, tries=3):
    """The answer to `pkt`, sent up to `tries` times (a first packet may
    meet an unresolved neighbor), or None."""
    for _ in range(tries):
        ans = srp1(pkt, iface=iface, timeout=TIMEOUT)
        if ans is not None:
            return ans
    return None


def silent(name, pkt, iface):
    """Reports whether `pkt` got no answer."""
    ans = srp1(pkt, iface=iface, timeout=TIMEOUT)
    report(name, ans is None, "no answer" if ans is None else f"answered: {ans.summary()}")
