"""Labs on the running kernel: they come up as specified, carry traffic, and leave no trace.

Traffic stays between brt- namespaces (bounded pings only). The machine's own
interfaces, routes and firewall are only ever read (``ip -o link``).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tracer import lab
from tracer.lab import LABS, LabInfo
from tracer.topology.discover import discover
from tracer.topology.model import Link, Netns, Topology, VxlanInfo

pytestmark = pytest.mark.kernel

BRTRACE = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "brtrace")

# host -> {(dst, gateway, dev, onlink)} of the main table
ROUTES = {
    "flannel": {
        "node1": {("10.244.0.0/24", "", "cni0", False), ("10.244.1.0/24", "10.244.1.0", "flannel.1", True),
                  ("192.168.50.0/24", "", "eth0", False)},
        "node2": {("10.244.1.0/24", "", "cni0", False), ("10.244.0.0/24", "10.244.0.0", "flannel.1", True),
                  ("192.168.50.0/24", "", "eth0", False)},
        "pod-a": {("default", "10.244.0.1", "eth0", False), ("10.244.0.0/24", "", "eth0", False)},
        "pod-b": {("default", "10.244.1.1", "eth0", False), ("10.244.1.0/24", "", "eth0", False)},
    },
    "docker": {
        "docker-host": {("192.168.88.0/24", "", "br0", False), ("198.51.100.0/24", "", "eth0", False)},
        "ns0": {("default", "192.168.88.1", "veth0", False), ("192.168.88.0/24", "", "veth0", False)},
        "ns1": {("default", "192.168.88.1", "veth1", False), ("192.168.88.0/24", "", "veth1", False)},
        "outside": {("198.51.100.0/24", "", "eth0", False)},
    },
    "bridge": {
        "bridge-host": {("172.16.0.0/24", "", "br0", False)},
        "nns1": {("172.16.0.0/24", "", "veth11", False)},
        "nns2": {("172.16.0.0/24", "", "veth21", False)},
    },
}
# (host, device) -> (peer host, peer device)
PEERS = {
    "flannel": {("node1", "eth0"): ("node2", "eth0"), ("node1", "veth-pod-a"): ("pod-a", "eth0"),
                ("node2", "veth-pod-b"): ("pod-b", "eth0")},
    "docker": {("docker-host", "eth0"): ("outside", "eth0"), ("docker-host", "veth0p"): ("ns0", "veth0"),
               ("docker-host", "veth1p"): ("ns1", "veth1")},
    "bridge": {("bridge-host", "veth10"): ("nns1", "veth11"), ("bridge-host", "veth20"): ("nns2", "veth21")},
}
# (host, bridge) -> ports
PORTS = {
    "flannel": {("node1", "cni0"): {"veth-pod-a"}, ("node2", "cni0"): {"veth-pod-b"}},
    "docker": {("docker-host", "br0"): {"veth0p", "veth1p"}},
    "bridge": {("bridge-host", "br0"): {"veth10", "veth20", "tap0"}},
}


def init_links() -> list[str]:
    """The machine's own link list (read only)."""
    return sh("ip", "-o", "link").stdout.splitlines()


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=check)


def ping(host: str, addr: str) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", f"brt-{host}", "ping", "-c", "2", "-W", "2", addr, check=False)


def ns(topo: Topology, host: str) -> Netns:
    found = topo.find_netns(f"brt-{host}")
    assert found is not None, host
    return found


def dev(netns: Netns, name_or_ifindex: str | int) -> Link:
    """A device that must be there (by name or ifindex)."""
    if isinstance(name_or_ifindex, str):
        found = netns.link_by_name(name_or_ifindex)
    else:
        found = netns.link(name_or_ifindex)
    assert found is not None, f"{netns.label}/{name_or_ifindex}"
    return found


def vxlan_of(ln: Link) -> VxlanInfo:
    assert ln.vxlan is not None, ln.name
    return ln.vxlan


def check_lab(name: str) -> None:
    spec = LABS[name]
    topo = discover(names=spec.namespaces)
    assert sorted(n.name for n in topo.namespaces) == sorted(spec.namespaces)
    for host in spec.hosts:
        netns = ns(topo, host)
        assert sorted(ln.name for ln in netns.links) == sorted(("lo", *spec.devices[host]))
        assert all(ln.state == "up" for ln in netns.links if ln.name != "tap0"), host
        main = {(r.dst, r.gateway, dev(netns, r.ifindex).name, r.onlink)
                for r in netns.routes if r.table == 254 and r.family == 4}
        assert main == ROUTES[name][host], host
        if host in spec.addresses6:  # dual-stack: its IPv6 prefix routed on the same device
            assert any(r.family == 6 and not r.dst.startswith("fe80") for r in netns.routes), host
        assert netns.owns_address(spec.addresses[host])
    for (h, hdev), (ph, pdev) in PEERS[name].items():
        a, b = ns(topo, h), ns(topo, ph)
        la, lb = dev(a, hdev), dev(b, pdev)
        assert topo.peer_of(a.inode, la.ifindex) == (b, lb)
        assert topo.peer_of(b.inode, lb.ifindex) == (a, la)
    for (h, br), ports in PORTS[name].items():
        netns = ns(topo, h)
        bridge = dev(netns, br)
        assert bridge.kind == "bridge"
        assert {ln.name for ln in netns.links if ln.master == bridge.ifindex} == ports


def test_flannel_lab_topology(flannel_lab: LabInfo) -> None:
    assert flannel_lab.state == "up"
    check_lab("flannel")
    topo = discover(names=["node1", "node2"])
    for node, local, remote, remote_ip in (("node1", "192.168.50.11", "node2", "192.168.50.12"),
                                           ("node2", "192.168.50.12", "node1", "192.168.50.11")):
        vx = dev(ns(topo, node), "flannel.1")
        peer_vx = dev(ns(topo, remote), "flannel.1")
        info = vxlan_of(vx)
        assert info.vni == 1 and info.port == 8472 and info.local == local
        assert not info.learning and vx.mtu == 1450
        fdb = [(f.mac, f.dst) for f in ns(topo, node).fdb if f.ifindex == vx.ifindex]
        assert fdb == [(peer_vx.mac, remote_ip)]
        assert any(n.lladdr == peer_vx.mac and n.state == "permanent" for n in ns(topo, node).neighbours)
        assert ns(topo, node).sysctl("net.ipv4.ip_forward") == "1"


def test_flannel_ping_pod_a_to_pod_b(flannel_lab: LabInfo) -> None:
    res = ping("pod-a", LABS["flannel"].addresses["pod-b"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 received" in res.stdout


def test_docker_lab_topology(docker_lab: LabInfo) -> None:
    check_lab("docker")
    topo = discover(names=["outside"])
    assert ns(topo, "outside").route_for("192.168.88.2") is None  # no way back but NAT


def _counter(host: str, table: str, chain: str, pattern: str) -> int:
    out = sh("ip", "netns", "exec", f"brt-{host}", "iptables", "-w", "-t", table, "-L", chain,
             "-v", "-n", "-x").stdout
    for line in out.splitlines():
        if re.search(pattern, line):
            return int(line.split()[0])
    raise AssertionError(f"no rule matching {pattern!r} in {host} {table}/{chain}:\n{out}")


def test_docker_ns0_reaches_outside_only_through_nat(docker_lab: LabInfo) -> None:
    outside = LABS["docker"].addresses["outside"]
    seen = ("-s", "198.51.100.2", "-p", "icmp")
    raw = ("-s", "192.168.88.0/24", "-p", "icmp")
    for rule in (seen, raw):  # counting-only rules at the outside end
        sh("ip", "netns", "exec", "brt-outside", "iptables", "-w", "-I", "INPUT", *rule)
    try:
        before = _counter("docker-host", "nat", "POSTROUTING", "MASQUERADE")
        res = ping("ns0", outside)
        assert res.returncode == 0, res.stdout + res.stderr
        assert _counter("docker-host", "nat", "POSTROUTING", "MASQUERADE") > before
        assert _counter("outside", "filter", "INPUT", r"198\.51\.100\.2 ") >= 2
        assert _counter("outside", "filter", "INPUT", r"192\.168\.88\.0/24") == 0
    finally:
        for rule in (seen, raw):
            sh("ip", "netns", "exec", "brt-outside", "iptables", "-w", "-D", "INPUT", *rule, check=False)


def test_bridge_lab_topology_and_ping(bridge_lab: LabInfo) -> None:
    check_lab("bridge")
    tap = dev(ns(discover(names=["bridge-host"]), "bridge-host"), "tap0")
    assert tap.kind == "tap" and tap.master
    res = ping("nns1", LABS["bridge"].addresses["nns2"])
    assert res.returncode == 0, res.stdout + res.stderr


def test_up_is_idempotent(bridge_lab: LabInfo) -> None:
    first = sh("ip", "-n", "brt-bridge-host", "-o", "link").stdout
    assert lab.up("bridge").state == "up"
    assert sh("ip", "-n", "brt-bridge-host", "-o", "link").stdout == first
    res = sh(BRTRACE, "lab", "up", "bridge")
    assert res.stdout.startswith("bridge: up")


def test_all_labs_coexist_and_full_discovery_sees_them(flannel_lab: LabInfo, docker_lab: LabInfo,
                                                        bridge_lab: LabInfo) -> None:
    topo = discover()
    assert topo.namespaces[0].is_init and topo.namespaces[0].label == "host"
    inodes = [n.inode for n in topo.namespaces]
    assert len(inodes) == len(set(inodes))
    names = {n.name for n in topo.namespaces}
    for spec in LABS.values():
        assert set(spec.namespaces) <= names
    out = [ln for ln in sh(BRTRACE, "lab", "status").stdout.splitlines() if not ln.startswith(" ")]
    assert [line.split(":")[0] for line in out] == list(LABS)
    assert all(": up (" in line for line in out)


def test_process_held_namespace_is_discovered(init_links_before: list[str]) -> None:
    proc = subprocess.Popen(["unshare", "-n", "sleep", "30"])
    try:
        for _ in range(50):
            try:
                if os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                    break
            except OSError:
                pass
            subprocess.run(["sleep", "0.05"], check=False)
        inode = os.stat(f"/proc/{proc.pid}/ns/net").st_ino
        held = discover().netns_by_inode(inode)
        assert held is not None and held.name == "" and proc.pid in held.pids
        assert held.label.startswith(f"netns:{inode}")
        assert [ln.kind for ln in held.links] == ["loopback"]
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _cycle(name: str) -> None:
    """Down (and back up if it was up): everything of the lab must vanish, nothing else change."""
    spec = LABS[name]
    was_up = lab.status(name).state == "up"
    lab.up(name)
    before = init_links()
    lab.down(name)
    listed = sh("ip", "netns", "list").stdout
    assert not any(n in listed.split() for n in spec.namespaces), listed
    assert lab.status(name).state == "down"
    topo = discover()
    assert not {n.name for n in topo.namespaces} & set(spec.namespaces)
    assert init_links() == before
    if was_up:
        lab.up(name)


@pytest.mark.parametrize("name", list(LABS))
def test_down_removes_exactly_the_lab(name: str, init_links_before: list[str]) -> None:
    _cycle(name)
    assert init_links() == init_links_before


def _one_clean_line(res: subprocess.CompletedProcess[str]) -> None:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("brtrace: "), res.stderr


@pytest.mark.unprivileged
@pytest.mark.parametrize("args", [("lab", "up", "nope"), ("lab", "down", "nope"),
                                  ("lab", "status", "\x1b[31mevil")])
def test_unknown_lab_is_one_clean_line(args: tuple[str, ...]) -> None:
    res = sh(BRTRACE, *args, check=False)
    _one_clean_line(res)
    assert "unknown lab" in res.stderr and "\x1b" not in res.stderr


@pytest.mark.unprivileged
def test_lab_up_without_root_is_one_clean_line() -> None:
    if os.geteuid() != 0:
        res = sh(BRTRACE, "lab", "up", check=False)
    else:
        res = sh("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BRTRACE, "lab", "up",
                 check=False)
    _one_clean_line(res)
    assert "root" in res.stderr
    assert res.returncode == 77


def test_half_built_lab_is_refused_then_removed(init_links_before: list[str]) -> None:
    was_up = lab.status("bridge").state == "up"
    lab.down("bridge")
    sh("ip", "netns", "add", "brt-nns1")  # a crash after the first namespace
    try:
        _one_clean_line(sh(BRTRACE, "lab", "up", "bridge", check=False))
        status = sh(BRTRACE, "lab", "status", "bridge", check=False)
        assert status.returncode != 0 and "bridge: partial (brt-nns1)" in status.stdout
        assert "Traceback" not in status.stderr
        down = sh(BRTRACE, "lab", "down", "bridge")
        assert "brt-nns1" in down.stdout
        assert lab.status("bridge").state == "down"
    finally:
        lab.down("bridge")
        if was_up:
            lab.up("bridge")


def test_failed_build_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch,
                                            init_links_before: list[str]) -> None:
    import dataclasses

    from tracer.errors import BrtraceError

    was_up = lab.status("bridge").state == "up"
    lab.down("bridge")

    def broken(b: object) -> None:
        LABS["bridge"].build.__wrapped__(b)  # type: ignore[attr-defined]
        raise OSError(1, "injected failure after the build")

    real = LABS["bridge"]
    broken.__wrapped__ = real.build  # type: ignore[attr-defined]
    monkeypatch.setitem(LABS, "bridge", dataclasses.replace(real, build=broken))
    try:
        with pytest.raises(BrtraceError, match="injected failure"):
            lab.up("bridge")
        assert lab.status("bridge").state == "down"
        assert init_links() == init_links_before
    finally:
        monkeypatch.undo()
        if was_up:
            lab.up("bridge")
