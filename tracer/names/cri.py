"""Pod names through the CRI API (containerd's CRI plugin or CRI-O), with its client ``crictl``.

Each ready pod sandbox is asked for its PID and netns path
(``crictl inspectp``); the pod is named ``namespace/name``. The endpoint is
``BRTRACE_CRI_SOCK``, else the first of containerd's and CRI-O's default
sockets that exists. ``report_from`` is pure (recorded answers test it).
"""

from __future__ import annotations

import json
import os
from typing import Any

from tracer.names.cli_client import Deadline, run, which
from tracer.names.runtime import STATUS_OK, RuntimeReport, Workload, absent, unreachable
from tracer.topology.model import OWNER_POD, Owner

RUNTIME = "cri"
SOCKS = ("/run/containerd/containerd.sock", "/var/run/crio/crio.sock")
SOCK_ENV = "BRTRACE_CRI_SOCK"
MAX_PODS = 256


class CriProvider:
    runtime = RUNTIME

    def __init__(self, sock: str | None = None) -> None:
        env = sock or os.environ.get(SOCK_ENV)
        self.sock = env or next((s for s in SOCKS if os.path.exists(s)), "")

    def report(self, timeout: float) -> RuntimeReport:
        if not self.sock or not os.path.exists(self.sock):
            return absent(RUNTIME, f"no CRI socket ({self.sock or ', '.join(SOCKS)})")
        crictl = which("crictl")
        if crictl is None:
            return absent(RUNTIME, "the crictl client is not installed")
        base = [crictl, "--runtime-endpoint", f"unix://{self.sock}"]
        dl = Deadline(timeout)
        try:
            pods = json.loads(run(base + ["pods", "-o", "json"], dl))
            ready = [p for p in pods.get("items") or () if p.get("state") == "SANDBOX_READY"]
            inspected = [json.loads(run(base + ["inspectp", "-o", "json", p["id"]], dl))
                         for p in ready[:MAX_PODS]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return unreachable(RUNTIME, f"{self.sock}: {exc}")
        return report_from(inspected, self.sock)


def report_from(inspected: list[dict[str, Any]], where: str = "") -> RuntimeReport:
    """A report from ``crictl inspectp -o json`` answers (one per ready sandbox)."""
    work = tuple(w for w in (_workload(x) for x in inspected) if w is not None)
    return RuntimeReport(RUNTIME, STATUS_OK, f"{where}: {len(work)} ready pods".lstrip(": "),
                         workloads=work)


def _workload(x: dict[str, Any]) -> Workload | None:
    status, info = x.get("status") or {}, x.get("info") or {}
    meta = status.get("metadata") or {}
    if not meta.get("name"):
        return None
    netns = ""
    spec = info.get("runtimeSpec") or {}
    for ns in (spec.get("linux") or {}).get("namespaces") or ():
        if ns.get("type") == "network":
            netns = str(ns.get("path") or "")
    owner = Owner(OWNER_POD, RUNTIME, str(meta["name"]), str(status.get("id", "")),
                  str(meta.get("namespace", "")))
    return Workload(owner, int(info.get("pid") or 0), netns)


__all__ = ["CriProvider", "report_from"]
