"""containerd names through its own client, ``ctr``: containers, and pods by their CRI labels.

Containers that a CRI plugin made for Kubernetes carry
``io.kubernetes.pod.name`` and ``io.kubernetes.pod.namespace``; those are
named as the pod (``namespace/name``), others by ``nerdctl/name`` or their id.
Every containerd namespace is read (``k8s.io``, ``moby``, ``default`` …).
The socket defaults to ``/run/containerd/containerd.sock``;
``BRTRACE_CONTAINERD_SOCK`` points elsewhere. ``report_from`` is pure.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tracer.names.cli_client import Deadline, run, which
from tracer.names.runtime import STATUS_OK, RuntimeReport, Workload, absent, unreachable
from tracer.topology.model import OWNER_CONTAINER, OWNER_POD, Owner

RUNTIME = "containerd"
DEFAULT_SOCK = "/run/containerd/containerd.sock"
SOCK_ENV = "BRTRACE_CONTAINERD_SOCK"
POD_NAME, POD_NAMESPACE = "io.kubernetes.pod.name", "io.kubernetes.pod.namespace"
NERDCTL_NAME = "nerdctl/name"
MAX_CONTAINERS = 256

# One containerd namespace as recorded: its containers' ``ctr containers info`` and task PIDs.
Listing = dict[str, tuple[list[dict[str, Any]], dict[str, int]]]


class ContainerdProvider:
    runtime = RUNTIME

    def __init__(self, sock: str | None = None) -> None:
        self.sock = sock or os.environ.get(SOCK_ENV) or DEFAULT_SOCK

    def report(self, timeout: float) -> RuntimeReport:
        if not os.path.exists(self.sock):
            return absent(RUNTIME, f"no socket at {self.sock}")
        ctr = which("ctr")
        if ctr is None:
            return absent(RUNTIME, "the ctr client is not installed (Debian: containerd)")
        try:
            return report_from(self._listing(ctr, Deadline(timeout)), self.sock)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return unreachable(RUNTIME, f"{self.sock}: {exc}")

    def _listing(self, ctr: str, dl: Deadline) -> Listing:
        base = [ctr, "--address", self.sock]
        out: Listing = {}
        for ns in run(base + ["namespaces", "ls", "-q"], dl).split():
            pids = parse_tasks(run(base + ["-n", ns, "tasks", "ls"], dl))
            infos = [json.loads(run(base + ["-n", ns, "containers", "info", cid], dl))
                     for cid in list(pids)[:MAX_CONTAINERS]]
            out[ns] = (infos, pids)
        return out


def parse_tasks(text: str) -> dict[str, int]:
    """``ctr tasks ls`` (TASK PID STATUS) -> running task id -> PID."""
    out = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[1].isdigit() and parts[2] == "RUNNING":
            out[parts[0]] = int(parts[1])
    return out


def report_from(listing: Listing, where: str = "") -> RuntimeReport:
    work = []
    for infos, pids in listing.values():
        for info in infos:
            cid = str(info.get("ID", ""))
            if pids.get(cid):
                work.append(Workload(_owner(info), pids[cid], _netns_path(info)))
    return RuntimeReport(RUNTIME, STATUS_OK, f"{where}: {len(work)} running tasks".lstrip(": "),
                         workloads=tuple(work))


def _owner(info: dict[str, Any]) -> Owner:
    labels = info.get("Labels") or {}
    cid = str(info.get("ID", ""))
    if labels.get(POD_NAME):
        return Owner(OWNER_POD, RUNTIME, str(labels[POD_NAME]), cid, str(labels.get(POD_NAMESPACE, "")))
    return Owner(OWNER_CONTAINER, RUNTIME, str(labels.get(NERDCTL_NAME) or cid[:12]), cid)


def _netns_path(info: dict[str, Any]) -> str:
    for ns in ((info.get("Spec") or {}).get("linux") or {}).get("namespaces") or ():
        if ns.get("type") == "network":
            return str(ns.get("path") or "")
    return ""


__all__ = ["ContainerdProvider", "parse_tasks", "report_from"]
