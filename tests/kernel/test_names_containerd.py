"""Pod names from a real containerd (Debian's 1.6, the one dockerd starts for itself).

A container made straight on containerd with the labels a CRI plugin puts on
a pod (``io.kubernetes.pod.name``/``.namespace``) in a netns wired like a
CNI bridge plugin does (the pod's veth end renamed to eth0, the other a
bridge port): ``topo`` and ``ping`` must call it ``shop/web-1`` and its
interface ``pod-eth0``; ``--from shop/web-1`` must find it. No CRI server or
Kubernetes API runs here: those two providers are tested on recorded answers
(tests/unit/test_resolve_providers.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dockerd import Dockerd, running_dockerd

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
POD_NS, NODE_NS = "brt-ctrd-pod", "brt-ctrd-node"
LABELS = {"io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "shop"}


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def pod() -> Iterator[Dockerd]:
    if os.geteuid() != 0:
        pytest.skip("kernel tests need root")
    try:
        ip("netns", "add", POD_NS)
        ip("netns", "add", NODE_NS)
        ip("-n", NODE_NS, "link", "add", "brt-cni0", "type", "bridge")
        ip("-n", NODE_NS, "link", "add", "brtvethnode0123", "type", "veth", "peer", "name",
           "brtvethpod01234", "netns", POD_NS)
        ip("-n", POD_NS, "link", "set", "brtvethpod01234", "name", "eth0")
        ip("-n", NODE_NS, "link", "set", "brtvethnode0123", "master", "brt-cni0")
        ip("-n", NODE_NS, "addr", "add", "10.198.0.1/24", "dev", "brt-cni0")
        ip("-n", POD_NS, "addr", "add", "10.198.0.2/24", "dev", "eth0")
        for ns, dev in ((NODE_NS, "brt-cni0"), (NODE_NS, "brtvethnode0123"), (POD_NS, "eth0"),
                        (POD_NS, "lo")):
            ip("-n", ns, "link", "set", dev, "up")
        with running_dockerd() as d:
            d.ctr_run("brt", "brt-pod1", f"/run/netns/{POD_NS}", LABELS)
            yield d
    finally:
        for ns in (POD_NS, NODE_NS):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    assert not os.path.exists("/run/containerd/fifo")
    left = subprocess.run(["pgrep", "-f", "brt-pod1|brt-dockerd-"], capture_output=True, text=True).stdout
    assert left == "", f"left running: {left}"
    cgroups = subprocess.run(["sh", "-c", "grep -l brt-pod1 /proc/[0-9]*/cgroup"], capture_output=True,
                             text=True).stdout
    assert cgroups == "", f"the containerd task's processes are still there: {cgroups}"


def brtrace(d: Dockerd, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BRTRACE_DOCKER_SOCK=d.sock, BRTRACE_CONTAINERD_SOCK=d.containerd_sock)
    proc = subprocess.run([BRTRACE, *args], capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_topo_and_ping_name_the_pod(pod: Dockerd) -> None:
    proc = brtrace(pod, "topo", "--netns", "shop/web-1", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "containerd pod shop/web-1 (brt-pod1)" in proc.stderr
    (ns,) = json.loads(proc.stdout)["namespaces"]
    assert ns["name"] == POD_NS
    assert ns["owners"][0] == {"kind": "pod", "runtime": "containerd", "name": "web-1", "id": "brt-pod1",
                               "namespace": "shop", "netns_path": f"/run/netns/{POD_NS}"}
    block = brtrace(pod, "topo", "--netns", "web-1").stdout
    assert block.startswith("shop/web-1  (containerd pod shop/web-1 brt-pod1, netns brt-ctrd-pod")
    assert "\n\n" not in block.strip()  # that namespace only, its peer named from the whole
    assert "eth0  pod-eth0 (veth)" in block and "peer: ctrd-node/brtvethnode0123" in block

    ping = brtrace(pod, "ping", "10.198.0.1", "--from", "shop/web-1", "-c", "1", "--json")
    assert ping.returncode == 0, ping.stderr + ping.stdout
    probe = json.loads(ping.stdout.splitlines()[0])
    sent = [h for h in probe["request"] if h["verb"] == "send"]
    assert sent and (sent[0]["netns"], sent[0]["dev"], sent[0]["kind"]) == ("shop/web-1", "eth0", "pod-eth0")
