"""``--k8s``: the agents of a cluster, found through the Kubernetes API.

Why: on a cluster the agents run as the DaemonSet of ``deploy/agent.yaml``,
one per node, and their addresses change as nodes come and go; the user names
the DaemonSet's pods (a label selector in a namespace), not addresses. One
``list pods`` call gives node name, pod IP (the node's: hostNetwork) and the
port named ``grpc``; those become the ``--agents`` list.

A pod that is not Ready is named on stderr and left out (the other nodes go
on, as with an unreachable agent); none Ready, no pod, no kubeconfig, an API
that refuses: one line each. ``agents_from`` is pure (recorded ``PodList``
answers test it); ``list_agent_pods`` talks to the API with the real
``kubernetes`` client (optional: ``pip install 'brtrace[k8s]'``).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from tracer.errors import BrtraceError

DEFAULT_NAMESPACE = "brtrace"
DEFAULT_SELECTOR = "app.kubernetes.io/name=brtrace-agent"
DEFAULT_PORT = 7946
PORT_NAME = "grpc"
API_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class AgentPods:
    """What the API said: the Ready agents by node, and the pods left out with why."""

    by_node: dict[str, str]  # node name -> "IP:port"
    skipped: tuple[str, ...]  # "namespace/pod on node: why", one per pod left out

    @property
    def addresses(self) -> list[str]:
        return list(self.by_node.values())


def _ready(status: dict[str, Any]) -> tuple[bool, str]:
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            ok = cond.get("status") == "True"
            return ok, "" if ok else str(cond.get("reason") or cond.get("message") or "not Ready")
    return False, f"no Ready condition (phase {status.get('phase', 'unknown')})"


def _port(spec: dict[str, Any]) -> int:
    for c in spec.get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("name") == PORT_NAME and p.get("containerPort"):
                return int(p["containerPort"])
    return DEFAULT_PORT


def agents_from(pod_list: dict[str, Any], namespace: str, selector: str) -> AgentPods:
    """The agents of a ``PodList`` (``GET /api/v1/namespaces/NS/pods?labelSelector=…``)."""
    by_node: dict[str, str] = {}
    skipped: list[str] = []
    items = pod_list.get("items") or ()
    for pod in items:
        meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
        name = f"{meta.get('namespace', namespace)}/{meta.get('name', '?')}"
        node = str(spec.get("nodeName") or "")
        ok, why = _ready(status)
        ip = str(status.get("podIP") or "")
        if not ok or not ip or not node:
            what = why or ("no pod IP" if not ip else "not scheduled on a node")
            skipped.append(f"{name} on {node or 'no node'}: {what}")
            continue
        host = f"[{ip}]" if ":" in ip else ip
        by_node[node] = f"{host}:{_port(spec)}"
    if not items:
        raise BrtraceError(f"--k8s: no pod matches {selector} in namespace {namespace}"
                           " (is deploy/agent.yaml applied?)", 1)
    if not by_node:
        raise BrtraceError(f"--k8s: no agent pod is Ready: {'; '.join(skipped)}", 1)
    return AgentPods(by_node, tuple(skipped))


def _load_config(kubeconfig: str) -> None:
    """The kubeconfig if there is one, else the in-cluster account, else one clear line."""
    try:
        from kubernetes import config
    except ImportError:
        raise BrtraceError("--k8s needs the kubernetes Python client: pip install 'brtrace[k8s]'",
                           2) from None
    if os.path.exists(kubeconfig):
        try:
            config.load_kube_config(config_file=kubeconfig)
        except Exception as exc:  # noqa: BLE001 - any malformed kubeconfig is one line to the user
            raise BrtraceError(f"--k8s: cannot use the kubeconfig {kubeconfig}: {exc}", 2) from None
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
    else:
        raise BrtraceError(f"--k8s: no kubeconfig at {kubeconfig} (set KUBECONFIG) and not inside a "
                           "cluster", 2)


def list_agent_pods(kubeconfig: str, namespace: str, selector: str,
                    timeout: float = API_TIMEOUT_S) -> dict[str, Any]:
    """One ``list pods`` call with the real client; its answer as JSON."""
    _load_config(kubeconfig)
    from kubernetes import client

    try:
        resp = client.CoreV1Api().list_namespaced_pod(namespace, label_selector=selector,
                                                      _preload_content=False, _request_timeout=timeout)
        data: dict[str, Any] = json.loads(resp.data)
    except client.ApiException as exc:
        raise BrtraceError(f"--k8s: the Kubernetes API refused to list pods in {namespace}: "
                           f"{exc.status} {exc.reason}" + _api_message(exc.body), 1) from None
    except Exception as exc:  # noqa: BLE001 - connection, TLS or decoding: one line, the cause named
        raise BrtraceError(f"--k8s: cannot reach the Kubernetes API: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}", 1) from None
    return data


def _api_message(body: object) -> str:
    try:
        msg = json.loads(body).get("message", "") if isinstance(body, (str, bytes)) else ""
    except ValueError:
        msg = ""
    return f" ({msg})" if msg else ""


def resolve(kubeconfig: str, namespace: str, selector: str, agents: str) -> str:
    """``--k8s``: the ``--agents`` list from the API, each node and pod left out said on stderr."""
    if agents:
        raise BrtraceError("give either --agents or --k8s, not both", 2)
    found = agents_from(list_agent_pods(kubeconfig, namespace, selector), namespace, selector)
    for why in found.skipped:
        print(f"brtrace: --k8s: left out {why}", file=sys.stderr)
    print("brtrace: --k8s: " + ", ".join(f"{n} {a}" for n, a in sorted(found.by_node.items())),
          file=sys.stderr, flush=True)
    return ",".join(found.addresses)


__all__ = ["DEFAULT_NAMESPACE", "DEFAULT_SELECTOR", "AgentPods", "agents_from", "list_agent_pods",
           "resolve"]
