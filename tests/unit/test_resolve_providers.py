"""Name providers on recorded answers, and attaching their names to a topology.

Docker's and containerd's answers were recorded from the real daemons the
kernel tests start (tests/support/dockerd.py); CRI's and Kubernetes' are
written after their API shapes (no CRI server or cluster runs here).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tracer.names import containerd, cri, docker, kube
from tracer.names.attach import attach
from tracer.names.gather import gather
from tracer.names.runtime import (
    STATUS_ABSENT,
    STATUS_OK,
    STATUS_UNREACHABLE,
    NetworkName,
    RuntimeReport,
    Workload,
)
from tracer.topology.model import (
    OWNER_CONTAINER,
    OWNER_POD,
    ROLE_CONTAINER_ETH,
    ROLE_NETNS_ETH,
    ROLE_POD_ETH,
    Link,
    Netns,
    Owner,
    PeerRef,
    PodAddress,
    Topology,
    link_role,
)
from tracer.topology.render import render

DATA = Path(__file__).resolve().parents[1] / "data" / "names"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def test_docker_recorded_engine_answers() -> None:
    d = load("docker_engine.json")
    rep = docker.report_from(d["inspected"], d["networks"] + [
        {"Name": "web", "Id": "7e002e626de4aa11", "Driver": "bridge", "Options": {}},
        {"Name": "ov", "Id": "x", "Driver": "overlay"}])
    assert rep.status == STATUS_OK
    names = {w.owner.name: w for w in rep.workloads}
    assert set(names) == {"brt-web1", "brt-web2"}  # "/brt-web1" as Docker prints it, cut
    w = names["brt-web1"]
    assert w.owner.kind == OWNER_CONTAINER and w.owner.runtime == "docker" and len(w.owner.id) == 64
    assert w.pid > 0 and "/netns/" in w.netns_path
    assert {(n.bridge, n.name) for n in rep.networks} == {("docker0", "bridge"), ("br-7e002e626de4", "web")}


def test_docker_skips_stopped_containers() -> None:
    rep = docker.report_from([{"Id": "ab" * 32, "Name": "/gone", "State": {"Pid": 0}}], [])
    assert rep.workloads == ()


def test_containerd_recorded_ctr_answers() -> None:
    moby = load("containerd_ctr_moby.json")
    pod = load("containerd_ctr_pod.json")
    tasks = containerd.parse_tasks(moby["moby_tasks"])
    assert tasks == {moby["moby_info"]["ID"]: moby["pid"]}
    rep = containerd.report_from({"moby": ([moby["moby_info"]], tasks),
                                  "brt": ([pod["info"]], containerd.parse_tasks(pod["tasks"]))})
    by_kind = {w.owner.kind: w for w in rep.workloads}
    plain = by_kind[OWNER_CONTAINER]
    assert plain.owner.name == moby["moby_info"]["ID"][:12] and plain.pid == moby["pid"]
    p = by_kind[OWNER_POD]
    assert (p.owner.namespace, p.owner.name, p.owner.label) == ("shop", "web-1", "shop/web-1")
    assert p.netns_path == "/run/netns/brt-ctrd-pod"


def test_containerd_ignores_stopped_tasks() -> None:
    text = "TASK PID STATUS\nabc 12 STOPPED\ndef 34 RUNNING\n"
    assert containerd.parse_tasks(text) == {"def": 34}


def test_cri_recorded_inspectp() -> None:
    rep = cri.report_from(load("cri_inspectp.json")["inspected"])
    assert [(w.owner.label, w.pid) for w in rep.workloads] == [
        ("shop/web-1", 4242), ("kube-system/coredns-5d78c9869d-abcde", 777)]
    assert rep.workloads[0].netns_path.startswith("/var/run/netns/cni-6a1c")
    assert rep.workloads[0].owner.id.startswith("8e1c5b0f")


def test_kubernetes_recorded_pod_list() -> None:
    rep = kube.report_from(load("kube_pods.json"))
    assert rep.pods == (PodAddress("10.244.0.5", "shop", "web-1", "node1"),
                        PodAddress("10.244.1.3", "shop", "web-2", "node2"))  # no host-network pod


class _Fixed:
    def __init__(self, runtime: str, rep: RuntimeReport | None = None, boom: bool = False) -> None:
        self.runtime, self._rep, self._boom = runtime, rep, boom

    def report(self, timeout: float) -> RuntimeReport:
        if self._boom:
            raise RuntimeError("provider bug")
        assert self._rep is not None
        return self._rep


def test_absent_runtimes_cost_nothing_and_say_so(tmp_path: Path) -> None:
    sock = str(tmp_path / "no.sock")
    reps = gather([docker.DockerProvider(sock), containerd.ContainerdProvider(sock),
                   cri.CriProvider(sock)], timeout=0.5)
    assert [r.status for r in reps] == [STATUS_ABSENT] * 3
    assert all(sock in r.detail for r in reps)


def test_unreachable_docker_socket_is_a_report_not_an_error(tmp_path: Path) -> None:
    import socket

    path = str(tmp_path / "mute.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)  # accepts, never answers
    t0 = time.monotonic()
    try:
        (rep,) = gather([docker.DockerProvider(path)], timeout=0.3)
    finally:
        srv.close()
    assert rep.status == STATUS_UNREACHABLE and path in rep.detail
    assert time.monotonic() - t0 < 1.0  # bounded by the timeout, not by the mute daemon


def test_a_provider_that_raises_is_reported_unreachable() -> None:
    (rep,) = gather([_Fixed("x", boom=True)], timeout=0.2)
    assert rep.status == STATUS_UNREACHABLE and "provider bug" in rep.detail


def _topo() -> Topology:
    host = Netns("", 1, links=(Link(2, "docker0", "bridge"),
                               Link(3, "vethA", "veth", master=2, peer=PeerRef(10, 5)),
                               Link(4, "vethB", "veth", master=2, peer=PeerRef(11, 5)),
                               Link(6, "vethC", "veth", master=2, peer=PeerRef(12, 5))), is_init=True)
    return Topology((host, Netns("", 10, links=(Link(5, "eth0", "veth", peer=PeerRef(1, 3)),), pids=(100,)),
                     Netns("", 11, links=(Link(5, "eth0", "veth", peer=PeerRef(1, 4)),), pids=(200,)),
                     Netns("brt-x", 12, links=(Link(5, "eth0", "veth", peer=PeerRef(1, 6)),))))


def test_attach_names_namespaces_bridges_and_pods() -> None:
    web = Owner(OWNER_CONTAINER, "docker", "web", "ab" * 32)
    pod = Owner(OWNER_POD, "cri", "web-1", "cd" * 32, "shop")
    pod_ctr = Owner(OWNER_POD, "containerd", "web-1", "ef" * 32, "shop")
    reps = [RuntimeReport("docker", STATUS_OK, workloads=(Workload(web, 100, "/var/run/docker/netns/1"),),
                          networks=(NetworkName("docker0", "bridge", "docker"),)),
            RuntimeReport("cri", STATUS_OK, workloads=(Workload(pod, 0, "", 11),),
                          pods=(PodAddress("10.244.1.3", "shop", "web-2", "node2"),)),
            RuntimeReport("containerd", STATUS_OK, workloads=(Workload(pod_ctr, 200),)),
            RuntimeReport("kubernetes", STATUS_UNREACHABLE, workloads=(Workload(web, 200),))]
    topo = attach(_topo(), reps)
    a, b, c = (topo.netns_by_inode(i) for i in (10, 11, 12))
    assert a is not None and b is not None and c is not None
    assert a.label == "web" and a.owners[0].netns_path == "/var/run/docker/netns/1"
    assert b.label == "shop/web-1" and len(b.owners) == 1  # one pod, though two runtimes report it
    assert c.label == "x" and c.owners == ()
    assert [link_role(topo, ns, ns.links[0]) for ns in (a, b, c)] == [
        ROLE_CONTAINER_ETH, ROLE_POD_ETH, ROLE_NETNS_ETH]
    host = topo.namespaces[0]
    assert host.link_by_name("docker0") is not None and host.link_by_name("docker0").network == "bridge"  # type: ignore[union-attr]
    assert topo.name_of_address("10.244.1.3") == "shop/web-2"
    text = render(topo)
    assert "web  (docker container web abababababab, unnamed netns, pid 100, inode 10)" in text
    assert "docker0  bridge  network bridge" in text and "pod-eth0" in text
    back = Topology.from_dict(json.loads(json.dumps(topo.to_dict())))
    assert back == topo  # names survive JSON (and so recordings)


def test_old_topology_without_names_still_reads() -> None:
    link = {"ifindex": 1, "name": "eth0", "kind": "veth"}
    old = {"namespaces": [{"name": "brt-a", "inode": 5, "links": [link]}]}
    topo = Topology.from_dict(old)
    assert topo.namespaces[0].owners == () and topo.namespaces[0].links[0].network == ""
    assert topo.pod_addresses == ()


def test_kubernetes_absent_without_kubeconfig_or_client(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    (rep,) = gather([kube.KubeProvider()], timeout=0.5)
    assert rep.status == STATUS_ABSENT and "no kubeconfig" in rep.detail
    cfg = tmp_path / "config"
    cfg.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    monkeypatch.setenv("KUBECONFIG", str(cfg))
    (rep,) = gather([kube.KubeProvider()], timeout=0.5)
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        assert rep.status == STATUS_ABSENT and "not installed" in rep.detail
    else:  # a kubeconfig with no cluster: the client fails, which is "unreachable", not a crash
        assert rep.status == STATUS_UNREACHABLE


def test_render_only_some_namespaces_keeps_their_peers_and_roles() -> None:
    web = Owner(OWNER_CONTAINER, "docker", "web", "ab" * 32)
    topo = attach(_topo(), [RuntimeReport("docker", STATUS_OK, workloads=(Workload(web, 100),))])
    text = render(topo, only=frozenset({10}))
    assert text.startswith("web  (docker container web") and "\n\n" not in text.strip()
    assert "eth0  container-eth0 (veth)" in text and "peer: host/vethA" in text
