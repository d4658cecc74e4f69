"""Pod names for addresses anywhere in the cluster, from the Kubernetes API.

Only where a kubeconfig is present (``KUBECONFIG``, else ``~/.kube/config``)
and the ``kubernetes`` Python client is installed (``pip install
'brtrace[k8s]'``): a packet to 10.244.1.3 on another node then reads
``shop/web-1``. One list call, bounded by the caller's timeout. Pods on the
host network are left out: their address is the node's. ``report_from`` is
pure (a recorded ``PodList`` tests it).
"""

from __future__ import annotations

import json
import os
from typing import Any

from tracer.names.runtime import STATUS_OK, RuntimeReport, absent, unreachable
from tracer.topology.model import PodAddress

RUNTIME = "kubernetes"


def kubeconfig() -> str:
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return env or os.path.expanduser("~/.kube/config")


class KubeProvider:
    runtime = RUNTIME

    def report(self, timeout: float) -> RuntimeReport:
        path = kubeconfig()
        if not os.path.exists(path):
            return absent(RUNTIME, f"no kubeconfig at {path}")
        try:
            from kubernetes import client, config
        except ImportError:
            return absent(RUNTIME, "the kubernetes Python client is not installed (pip install kubernetes)")
        try:
            config.load_kube_config(config_file=path)
            resp = client.CoreV1Api().list_pod_for_all_namespaces(
                _preload_content=False, _request_timeout=timeout)
            pods = json.loads(resp.data)
        except Exception as exc:  # noqa: BLE001 - any client/config/HTTP failure is "unreachable"
            return unreachable(RUNTIME, f"{path}: {type(exc).__name__}: {exc}")
        return report_from(pods, path)


def report_from(pod_list: dict[str, Any], where: str = "") -> RuntimeReport:
    """A report from a ``PodList`` (``GET /api/v1/pods``)."""
    out = []
    for pod in pod_list.get("items") or ():
        meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
        if spec.get("hostNetwork"):
            continue
        ips = [str(p.get("ip")) for p in status.get("podIPs") or () if p.get("ip")]
        ips = ips or ([str(status["podIP"])] if status.get("podIP") else [])
        for ip in ips:
            out.append(PodAddress(ip, str(meta.get("namespace", "")), str(meta.get("name", "")),
                                  str(spec.get("nodeName", ""))))
    return RuntimeReport(RUNTIME, STATUS_OK, f"{where}: {len(out)} pod addresses".lstrip(": "),
                         pods=tuple(out))


__all__ = ["KubeProvider", "kubeconfig", "report_from"]
