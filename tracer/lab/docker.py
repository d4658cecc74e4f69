"""Seed 003: docker0 by hand — br0 with two containers, NAT out of the host's uplink.

``outside`` stands for the external network. It has no route back to
192.168.88.0/24, so ns0 can only reach it because ``brt-docker-host``'s own
iptables MASQUERADEs the traffic to the uplink address (the machine's
firewall is never touched: the rule lives in the lab namespace).
"""

from __future__ import annotations

from tracer.lab.build import Builder
from tracer.lab.spec import Lab

HOST = "docker-host"
BRIDGE_NET = "192.168.88.0/24"
UPLINK_ADDR = "198.51.100.2"
OUTSIDE_ADDR = "198.51.100.1"
CONTAINERS = {"ns0": ("veth0", "veth0p", "192.168.88.2"), "ns1": ("veth1", "veth1p", "192.168.88.3")}
MASQUERADE_RULE = ("-t", "nat", "-A", "POSTROUTING", "-s", BRIDGE_NET, "!", "-o", "br0",
                   "-j", "MASQUERADE")


def _container(b: Builder, ns: str) -> None:
    dev, host_end, address = CONTAINERS[ns]
    b.veth(HOST, host_end, ns, dev)
    b.enslave(HOST, host_end, "br0")
    b.set_up(HOST, host_end)
    b.addr(ns, dev, f"{address}/24")
    b.set_up(ns, dev)
    b.route(ns, "0.0.0.0/0", gateway="192.168.88.1")


def build(b: Builder) -> None:
    for host in LAB.hosts:
        b.add_netns(host)
    b.sysctls(HOST, {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"})
    b.bridge(HOST, "br0")
    b.addr(HOST, "br0", "192.168.88.1/24")
    b.set_up(HOST, "br0")
    b.veth(HOST, "eth0", "outside", "eth0")
    b.addr(HOST, "eth0", f"{UPLINK_ADDR}/24")
    b.set_up(HOST, "eth0")
    b.addr("outside", "eth0", f"{OUTSIDE_ADDR}/24")
    b.set_up("outside", "eth0")
    for ns in CONTAINERS:
        _container(b, ns)
    b.iptables(HOST, *MASQUERADE_RULE)


LAB = Lab(
    name="docker",
    description="seed 003: br0 192.168.88.1/24, ns0/ns1, MASQUERADE to an outside netns",
    hosts=(HOST, "ns0", "ns1", "outside"),
    addresses={HOST: UPLINK_ADDR, "ns0": "192.168.88.2", "ns1": "192.168.88.3",
               "outside": OUTSIDE_ADDR},
    devices={HOST: ("br0", "eth0", "veth0p", "veth1p"), "ns0": ("veth0",), "ns1": ("veth1",),
             "outside": ("eth0",)},
    build=build,
)
