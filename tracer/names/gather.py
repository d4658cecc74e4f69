"""Ask every runtime at once, briefly: the I/O half of naming (the matching is in ``attach``).

Each provider gets ``TIMEOUT`` seconds and runs in its own thread, so naming
costs at most about that much even when every runtime hangs; an absent one
(no socket, no client, no kubeconfig) answers at once. The reports say which
was absent or unreachable, for ``brtrace doctor`` and the notes of ``topo``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import replace

from tracer.names.runtime import NameProvider, RuntimeReport, Workload, unreachable

TIMEOUT = 1.0
DISABLE_ENV = "BRTRACE_NO_RUNTIMES"  # "1": ask no runtime (tests of the bare labs, offline replays)


def default_providers() -> list[NameProvider]:
    """Docker, containerd, CRI and Kubernetes, each at its configured (or default) place."""
    from tracer.names.containerd import ContainerdProvider
    from tracer.names.cri import CriProvider
    from tracer.names.docker import DockerProvider
    from tracer.names.kube import KubeProvider

    return [DockerProvider(), ContainerdProvider(), CriProvider(), KubeProvider()]


def gather(providers: Sequence[NameProvider] | None = None, timeout: float = TIMEOUT
           ) -> list[RuntimeReport]:
    """Every provider's report, workloads' netns inodes filled in; never raises.

    Plain daemon threads (not a pool): one that hangs past its budget is
    reported unreachable and left behind without holding up the exit.
    """
    if providers is None:
        if os.environ.get(DISABLE_ENV) == "1":
            return []
        providers = default_providers()
    got: list[RuntimeReport | None] = [None] * len(providers)

    def ask(i: int, p: NameProvider) -> None:
        try:
            got[i] = p.report(timeout)
        except Exception as exc:  # noqa: BLE001 - a provider bug must not stop tracing
            got[i] = unreachable(p.runtime, f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=ask, args=(i, p), name=f"brt-names-{p.runtime}", daemon=True)
               for i, p in enumerate(providers)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + 0.5
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    reps = [r if r is not None else unreachable(p.runtime, f"no answer in {timeout:g} s")
            for p, r in zip(providers, got, strict=True)]
    return [replace(r, workloads=tuple(_with_inode(w) for w in r.workloads)) for r in reps]


def _with_inode(w: Workload) -> Workload:
    if w.netns_inode:
        return w
    for path in ([f"/proc/{w.pid}/ns/net"] if w.pid else []) + ([w.netns_path] if w.netns_path else []):
        ino = nsfs_inode(path)
        if ino:
            return replace(w, netns_inode=ino)
    return w


def nsfs_inode(path: str) -> int:
    """The netns inode ``path`` holds, or 0 (missing, or not a mounted namespace file)."""
    try:
        st = os.stat(path)
        nsfs = os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return 0
    return st.st_ino if st.st_dev == nsfs else 0


__all__ = ["DISABLE_ENV", "TIMEOUT", "default_providers", "gather", "nsfs_inode"]
