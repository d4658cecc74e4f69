"""Docker names through the Engine API on its unix socket: containers, ids, networks.

Plain HTTP/1.1 over ``AF_UNIX`` with the standard library (no SDK: three GET
requests do not justify a dependency). The socket defaults to
``/var/run/docker.sock``; ``--docker-sock`` or ``BRTRACE_DOCKER_SOCK`` point it
at a daemon elsewhere (the tests run one with a private socket in its own
netns). Parsing is pure (``report_from``), so recorded responses test it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from tracer.names.runtime import (
    STATUS_OK,
    NetworkName,
    RuntimeReport,
    Workload,
    absent,
    unreachable,
)
from tracer.topology.model import OWNER_CONTAINER, Owner

RUNTIME = "docker"
DEFAULT_SOCK = "/var/run/docker.sock"
SOCK_ENV = "BRTRACE_DOCKER_SOCK"
BRIDGE_OPTION = "com.docker.network.bridge.name"
MAX_CONTAINERS = 512


def _http_error() -> type[Exception]:
    import http.client

    return http.client.HTTPException


def default_sock() -> str:
    return os.environ.get(SOCK_ENV) or DEFAULT_SOCK


def _connection(path: str, timeout: float) -> Any:
    """An HTTPConnection whose transport is a unix socket (http.client imported only when asked)."""
    import http.client

    class UnixHTTP(http.client.HTTPConnection):
        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(path)
            except OSError:
                sock.close()
                raise
            self.sock = sock

    return UnixHTTP("localhost", timeout=timeout)


def _get(conn: Any, path: str) -> Any:
    conn.request("GET", path, headers={"Host": "docker"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise OSError(f"GET {path}: HTTP {resp.status}")
    return json.loads(body)


class DockerProvider:
    """Container names, ids and network names of one Docker daemon."""

    runtime = RUNTIME

    def __init__(self, sock: str | None = None) -> None:
        self.sock = sock or default_sock()

    def report(self, timeout: float) -> RuntimeReport:
        if not os.path.exists(self.sock):
            return absent(RUNTIME, f"no socket at {self.sock}")
        deadline = time.monotonic() + timeout
        conn = _connection(self.sock, timeout)
        try:
            listed = _get(conn, "/containers/json")
            inspected = []
            for c in listed[:MAX_CONTAINERS]:
                if time.monotonic() > deadline:
                    return unreachable(RUNTIME, f"{self.sock}: too slow (over {timeout:g} s)")
                inspected.append(_get(conn, f"/containers/{c['Id']}/json"))
            networks = _get(conn, "/networks")
        except (OSError, ValueError, KeyError, TypeError, _http_error()) as exc:
            return unreachable(RUNTIME, f"{self.sock}: {exc}")
        finally:
            conn.close()
        return report_from(inspected, networks, self.sock)


def report_from(inspected: list[dict[str, Any]], networks: list[dict[str, Any]],
                where: str = "") -> RuntimeReport:
    """A report from ``GET /containers/{id}/json`` answers and ``GET /networks``."""
    work = tuple(w for w in (_workload(c) for c in inspected) if w is not None)
    nets = tuple(n for n in (_network(x) for x in networks) if n is not None)
    detail = f"{where}: {len(work)} running containers, {len(nets)} bridge networks".lstrip(": ")
    return RuntimeReport(RUNTIME, STATUS_OK, detail, workloads=work, networks=nets)


def _workload(c: dict[str, Any]) -> Workload | None:
    state = c.get("State") or {}
    pid = int(state.get("Pid") or 0)
    if not pid:
        return None  # not running: it holds no namespace
    name = str(c.get("Name") or "").lstrip("/") or str(c.get("Id", ""))[:12]
    sandbox = str((c.get("NetworkSettings") or {}).get("SandboxKey") or "")
    return Workload(Owner(OWNER_CONTAINER, RUNTIME, name, str(c.get("Id", ""))), pid, sandbox)


def _network(n: dict[str, Any]) -> NetworkName | None:
    """Bridge networks only: the bridge is ``docker0``-like by option, else ``br-<id[:12]>``."""
    if n.get("Driver") != "bridge":
        return None
    bridge = str((n.get("Options") or {}).get(BRIDGE_OPTION) or "") or f"br-{str(n.get('Id', ''))[:12]}"
    return NetworkName(bridge, str(n.get("Name", "")), RUNTIME)


__all__ = ["DEFAULT_SOCK", "SOCK_ENV", "DockerProvider", "default_sock", "report_from"]
