"""A frame the bridge switches, DNAT'ed by bridge netfilter: on the bridge lab, nothing else.

bridge-host (``brt-bridge-host``: br0, bridge-nf-call-iptables=1) gets a nat
PREROUTING rule turning 172.16.0.22 into nns2's 172.16.0.21, and nns2 holds
172.16.0.22 too, so nns1's ARP for it is answered by nns2 and the frame is
bridged, not routed: bridge netfilter runs the DNAT, then looks the new
address up itself. Forwarding is on in bridge-host while it lasts, as on a
Docker host, unless ``forward`` is False: with it off, the kernel turns that
lookup into ip_error and the frame dies (IP_INADDRERRORS). One home for the kernel test and
``scripts/make_samples.py`` (``samples/bridged-dnat.brt``); everything is
put back on the way out, on failure too.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

HOST = ("ip", "netns", "exec", "brt-bridge-host")
PUBLISHED, TARGET = "172.16.0.22", "172.16.0.21"
RULE = ("PREROUTING", "-d", PUBLISHED, "-p", "icmp", "-j", "DNAT", "--to-destination", TARGET)


def _sh(*cmd: str, check: bool = True) -> None:
    subprocess.run(cmd, check=check, capture_output=True, timeout=30)


@contextmanager
def bridged_dnat(forward: bool = True) -> Iterator[None]:
    """The setup above, undone on the way out (the bridge lab must be up)."""
    fwd = subprocess.run([*HOST, "sysctl", "-n", "net.ipv4.ip_forward"], capture_output=True, text=True,
                         check=True, timeout=30).stdout.strip()
    try:
        _sh("ip", "-n", "brt-nns2", "addr", "add", f"{PUBLISHED}/24", "dev", "veth21")
        _sh(*HOST, "sysctl", "-qw", f"net.ipv4.ip_forward={int(forward)}")
        _sh(*HOST, "iptables", "-w", "-t", "nat", "-A", *RULE)
        yield
    finally:
        _sh(*HOST, "iptables", "-w", "-t", "nat", "-D", *RULE, check=False)
        _sh(*HOST, "sysctl", "-qw", f"net.ipv4.ip_forward={fwd}", check=False)
        _sh("ip", "-n", "brt-nns2", "addr", "del", f"{PUBLISHED}/24", "dev", "veth21", check=False)
