"""Echo replies a namespace has received: a real event for kernel tests to wait on.

Why: a fixed sleep ("the probes attach, then ping runs for a while") races
the machine's load: on two busy cores compiling the probes alone can take
longer than the sleep. The kernel counts every ICMP message it receives per
type (``IcmpMsg: InType0`` in the namespace's ``/proc/net/snmp``, counted in
icmp_rcv, net/ipv4/icmp.c, 6.18), so a test can wait until replies really came.
"""

from __future__ import annotations

import subprocess
import time


def echo_replies(netns: str) -> int:
    """ICMP echo replies received in ``netns`` so far (0 before the first ICMP message)."""
    out = subprocess.run(["ip", "netns", "exec", netns, "cat", "/proc/net/snmp"], capture_output=True,
                         text=True, check=True, timeout=10).stdout
    rows = [ln.split() for ln in out.splitlines() if ln.startswith("IcmpMsg:")]
    if len(rows) < 2:
        return 0
    return int(dict(zip(rows[0][1:], rows[1][1:], strict=True)).get("InType0", "0"))


def wait_echo_replies(netns: str, since: int, n: int, timeout_s: float = 60.0) -> None:
    """Until ``netns`` has received ``n`` more echo replies than ``since``; AssertionError
    after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while (got := echo_replies(netns) - since) < n:
        assert time.monotonic() < end, f"{netns}: {got} of {n} echo replies after {timeout_s:.0f} s"
        time.sleep(0.05)
