"""``--k8s``: the real ``kubernetes`` client against recorded API answers.

The answers (tests/data/k8s/, written after the API's PodList and Status
shapes: no API server runs here) are served by a real local HTTP server
(tests/support/kubeapi.py) that a real kubeconfig points the client at; the
command line runs as a user runs it, in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kubeapi import DATA, FakeApi, fake_api
from tracer.errors import BrtraceError
from tracer.remote.k8s import DEFAULT_NAMESPACE, DEFAULT_SELECTOR, agents_from, list_agent_pods

pytest.importorskip("kubernetes")
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
PODS = f"/api/v1/namespaces/{DEFAULT_NAMESPACE}/pods"


def brtrace(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin", "BRTRACE_NO_RUNTIMES": "1"}
    return subprocess.run([BRTRACE, *args], capture_output=True, text=True, timeout=60, env=env)


def test_recorded_pod_list_maps_nodes_to_ready_agents() -> None:
    pods = json.loads((DATA / "agent_pods.json").read_text())
    found = agents_from(pods, DEFAULT_NAMESPACE, DEFAULT_SELECTOR)
    assert found.by_node == {"node1": "192.168.50.11:7946", "node2": "192.168.50.12:7946"}
    assert found.skipped == ("brtrace/brtrace-agent-zp8wv on node3: ContainersNotReady",)


def test_the_real_client_asks_for_the_selector_in_the_namespace(tmp_path: Path) -> None:
    with fake_api() as api:
        api.answer(PODS, "agent_pods.json")
        pods = list_agent_pods(str(api.kubeconfig(tmp_path)), DEFAULT_NAMESPACE, DEFAULT_SELECTOR)
    assert [p["spec"]["nodeName"] for p in pods["items"]] == ["node1", "node2", "node3"]
    ((path, query, auth),) = api.seen
    assert path == PODS and query["labelSelector"] == [DEFAULT_SELECTOR]
    assert auth.startswith("Bearer ")


def _agents_seen(api: FakeApi, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``brtrace topo --k8s``: the agents it found are named, then reached (none listens here)."""
    return brtrace(api.kubeconfig(tmp_path), "topo", "--k8s")


def test_k8s_uses_the_ready_pods_as_agents_and_names_the_one_left_out(tmp_path: Path) -> None:
    with fake_api() as api:
        # the recorded node addresses, moved to loopback ports nobody listens on (nothing leaves the host)
        api.answer(PODS, "agent_pods.json", replace={"192.168.50.1": "127.0.0.1"})
        proc = _agents_seen(api, tmp_path)
    err = proc.stderr
    assert "--k8s: left out brtrace/brtrace-agent-zp8wv on node3: ContainersNotReady" in err
    assert "--k8s: node1 127.0.0.11:7946, node2 127.0.0.12:7946" in err
    assert "127.0.0.11:7946" in err.split("--k8s: node1")[1].split("\n", 1)[1]  # then it tried that agent
    assert "Traceback" not in err and proc.returncode != 0


@pytest.mark.parametrize(("recorded", "status", "says"), [
    ("agent_pods_empty.json", 200, f"no pod matches {DEFAULT_SELECTOR} in namespace {DEFAULT_NAMESPACE}"),
    ("agent_pods_not_ready.json", 200,
     "no agent pod is Ready: brtrace/brtrace-agent-zp8wv on node3: ContainersNotReady"),
    ("forbidden.json", 403, "refused to list pods in brtrace: 403 Forbidden (pods is forbidden: User"),
])
def test_api_answers_that_give_no_agent_are_one_line(tmp_path: Path, recorded: str, status: int,
                                                     says: str) -> None:
    with fake_api() as api:
        api.answer(PODS, recorded, status)
        proc = _agents_seen(api, tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr


def test_no_kubeconfig_and_no_api_are_one_line(tmp_path: Path) -> None:
    proc = brtrace(tmp_path / "none", "ping", "10.244.1.3", "--k8s")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert f"no kubeconfig at {tmp_path / 'none'}" in proc.stderr
    with fake_api() as api:
        cfg = api.kubeconfig(tmp_path)
    proc = brtrace(cfg, "topo", "--k8s")  # the server is gone: connection refused
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "cannot reach the Kubernetes API" in proc.stderr


def test_k8s_and_agents_together_are_refused() -> None:
    with pytest.raises(BrtraceError, match="either --agents or --k8s"):
        from tracer.remote.k8s import resolve

        resolve("/nonexistent", DEFAULT_NAMESPACE, DEFAULT_SELECTOR, "127.0.0.1:7946")
