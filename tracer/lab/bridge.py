"""Seed 004 (plus seed 000's VM case): two namespaces on br0 via veth pairs, and a tap port.

Same names as the seed (veth10/veth11, veth20/veth21, 172.16.0.0/24); ``tap0``
stands for a VM's NIC on the bridge. Nobody holds the tap open, so it has no
carrier — as a VM that is not running.
"""

from __future__ import annotations

from tracer.lab.build import Builder
from tracer.lab.spec import Lab

HOST = "bridge-host"
PAIRS = {"nns1": ("veth10", "veth11", "172.16.0.11"), "nns2": ("veth20", "veth21", "172.16.0.21")}
# dual stack: a unique-local /64 beside the seed's IPv4 subnet, the same last digits
ADDR6 = {HOST: "fd00:172:16::1", "nns1": "fd00:172:16::11", "nns2": "fd00:172:16::21"}


def build(b: Builder) -> None:
    for host in LAB.hosts:
        b.add_netns(host)
        b.enable_ipv6(host)
    b.sysctls(HOST, {"net.bridge.bridge-nf-call-iptables": "1"})
    b.bridge(HOST, "br0")
    b.addr(HOST, "br0", "172.16.0.1/24")
    b.addr(HOST, "br0", f"{ADDR6[HOST]}/64")
    b.set_up(HOST, "br0")
    for ns, (host_end, dev, address) in PAIRS.items():
        b.veth(HOST, host_end, ns, dev)
        b.enslave(HOST, host_end, "br0")
        b.set_up(HOST, host_end)
        b.addr(ns, dev, f"{address}/24")
        b.addr(ns, dev, f"{ADDR6[ns]}/64")
        b.set_up(ns, dev)
    b.tap(HOST, "tap0")
    b.enslave(HOST, "tap0", "br0")
    b.set_up(HOST, "tap0")


LAB = Lab(
    name="bridge",
    description="seed 004: nns1/nns2 on br0 172.16.0.1/24 via veth10/veth20, plus tap0",
    hosts=(HOST, "nns1", "nns2"),
    addresses={HOST: "172.16.0.1", "nns1": "172.16.0.11", "nns2": "172.16.0.21"},
    devices={HOST: ("br0", "veth10", "veth20", "tap0"), "nns1": ("veth11",), "nns2": ("veth21",)},
    build=build,
    addresses6=ADDR6,
)
