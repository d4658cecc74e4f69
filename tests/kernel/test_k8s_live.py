"""``brtrace ping --k8s`` end to end: the real ``kubernetes`` client reads a recorded
PodList (tests/data/k8s/, served by tests/support/kubeapi.py) whose two Ready
agent pods point at two real agents on loopback, one per flannel-lab node; the
merged probe crosses both. The third, not-Ready pod is left out and named.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.kernel.test_agents import BRTRACE, NODE1, NODE2, agent, probes
from tests.support.kubeapi import fake_api

pytestmark = pytest.mark.kernel
PODS = "/api/v1/namespaces/brtrace/pods"


def test_ping_through_agents_found_by_k8s(flannel_lab: object, tmp_path: Path) -> None:
    pytest.importorskip("kubernetes")
    with agent(NODE1) as a1, agent(NODE2) as a2, fake_api() as api:
        api.answer(PODS, "agent_pods.json")
        pods = json.loads(api.routes[PODS][1])
        for pod, addr in zip(pods["items"], (a1, a2), strict=False):  # node1, node2 -> the real agents
            ip, port = addr.rsplit(":", 1)
            pod["status"]["podIP"] = ip
            pod["spec"]["containers"][0]["ports"][0]["containerPort"] = int(port)
        api.routes[PODS] = (200, json.dumps(pods).encode())
        env = {"KUBECONFIG": str(api.kubeconfig(tmp_path)), "PATH": "/usr/sbin:/usr/bin:/bin"}
        proc = subprocess.run([BRTRACE, "ping", "10.244.1.3", "--from", "node1:pod-a", "-c", "1", "--json",
                               "--k8s"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"--k8s: node1 {a1}, node2 {a2}" in proc.stderr
    assert "left out brtrace/brtrace-agent-zp8wv on node3: ContainersNotReady" in proc.stderr
    (p,) = probes(proc.stdout)
    assert p["status"] == "delivered" and set(p["nodes"]) == {"node1", "node2"}
    assert {h["node"] for h in p["request"]} == {"node1", "node2"}
