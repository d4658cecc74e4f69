"""Seed 001: flannel's VXLAN backend between two nodes, one pod on each.

Built the way flannel (vxlan backend, DirectRouting off) leaves a node: the
``flannel.1`` device carries the node's ``10.244.X.0/32``, an onlink route per
remote subnet via that remote ``.0`` address, a permanent ARP entry mapping it
to the remote ``flannel.1`` MAC, and an FDB entry sending that MAC to the
remote node's underlay address. Learning is off, exactly as flannel sets it.

Dual stack as flannel's IPv6 (``EnableIPv6``) leaves it: pods also get
``fd00:10:244:X::/64`` ranges over the same IPv4 underlay (VXLAN carries the
IPv6 frames unchanged); ``flannel.1`` also carries ``fd00:10:244:X::/128``,
with an onlink route per remote range via that address and a permanent
neighbour entry for it (IPv6's ARP entry) to the same remote MAC.
"""

from __future__ import annotations

from tracer.lab.build import Builder
from tracer.lab.spec import Lab

VNI = 1
VXLAN_PORT = 8472
VXLAN_MTU = 1450

# node -> (underlay eth0, pod subnet index, flannel.1 MAC, pod, pod address)
NODES = {
    "node1": ("192.168.50.11", 0, "02:b7:0a:f4:00:00", "pod-a", "10.244.0.2"),
    "node2": ("192.168.50.12", 1, "02:b7:0a:f4:01:00", "pod-b", "10.244.1.3"),
}
NET6 = "fd00:10:244"  # the pods' IPv6 ranges: NET6:X::/64 on node X+1
POD6 = {"pod-a": f"{NET6}:0::2", "pod-b": f"{NET6}:1::3"}



def _node(b: Builder, node: str, peer: str) -> None:
    underlay, idx, mac, _, _ = NODES[node]
    p_underlay, p_idx, p_mac, _, _ = NODES[peer]
    b.addr(node, "eth0", f"{underlay}/24")
    b.set_up(node, "eth0")
    b.bridge(node, "cni0", mtu=VXLAN_MTU)
    b.addr(node, "cni0", f"10.244.{idx}.1/24")
    b.vxlan(node, "flannel.1", vxlan_id=VNI, vxlan_local=underlay, vxlan_port=VXLAN_PORT,
            vxlan_link=b.index(node, "eth0"), vxlan_learning=0, address=mac, mtu=VXLAN_MTU)
    b.addr(node, "flannel.1", f"10.244.{idx}.0/32")
    for dev in ("cni0", "flannel.1"):
        b.set_up(node, dev)
    b.route(node, f"10.244.{p_idx}.0/24", gateway=f"10.244.{p_idx}.0", dev="flannel.1", onlink=True)
    b.neigh(node, "flannel.1", f"10.244.{p_idx}.0", p_mac)
    b.fdb(node, "flannel.1", p_mac, p_underlay)
    b.addr(node, "cni0", f"{NET6}:{idx}::1/64")
    b.addr(node, "flannel.1", f"{NET6}:{idx}::/128")
    b.route(node, f"{NET6}:{p_idx}::/64", gateway=f"{NET6}:{p_idx}::", dev="flannel.1", onlink=True)
    b.neigh(node, "flannel.1", f"{NET6}:{p_idx}::", p_mac)


def _pod(b: Builder, node: str) -> None:
    _, idx, _, pod, address = NODES[node]
    host_end = f"veth-{pod}"
    b.veth(node, host_end, pod, "eth0", mtu=VXLAN_MTU)
    b.enslave(node, host_end, "cni0")
    b.set_up(node, host_end)
    b.addr(pod, "eth0", f"{address}/24")
    b.addr(pod, "eth0", f"{POD6[pod]}/64")
    b.set_up(pod, "eth0")
    b.route(pod, "0.0.0.0/0", gateway=f"10.244.{idx}.1")
    b.route(pod, "::/0", gateway=f"{NET6}:{idx}::1")


def build(b: Builder) -> None:
    for host in LAB.hosts:
        b.add_netns(host)
        b.enable_ipv6(host)
    for node in NODES:
        b.sysctls(node, {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1",
                         "net.bridge.bridge-nf-call-iptables": "1"})
    b.veth("node1", "eth0", "node2", "eth0")
    _node(b, "node1", "node2")
    _node(b, "node2", "node1")
    for node in NODES:
        _pod(b, node)


LAB = Lab(
    name="flannel",
    description="seed 001: two nodes, cni0 bridges, flannel.1 VXLAN (VNI 1, port 8472), pod-a -> pod-b",
    hosts=("node1", "node2", "pod-a", "pod-b"),
    addresses={"node1": "192.168.50.11", "node2": "192.168.50.12",
               "pod-a": "10.244.0.2", "pod-b": "10.244.1.3"},
    devices={"node1": ("eth0", "cni0", "flannel.1", "veth-pod-a"),
             "node2": ("eth0", "cni0", "flannel.1", "veth-pod-b"),
             "pod-a": ("eth0",), "pod-b": ("eth0",)},
    build=build,
    addresses6={"pod-a": "fd00:10:244::2", "pod-b": "fd00:10:244:1::3"},
)
