"""What a container runtime says about the workloads it runs: the one shape every provider returns.

A provider (Docker, containerd, CRI, Kubernetes) asks its runtime and answers
with a :class:`RuntimeReport`: which workloads hold which namespace (by PID or
by the runtime's netns path), which bridge carries which runtime network, and
which pod has which address anywhere in the cluster. ``tracer.names.attach``
puts those onto the topology; ``tracer.names.resolve`` matches ``--from`` on
them. Pure data: no sockets here, so recorded responses are test data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tracer.topology.model import Owner, PodAddress

STATUS_OK = "ok"
STATUS_ABSENT = "absent"  # no socket / no client / no kubeconfig: not running here, costs nothing
STATUS_UNREACHABLE = "unreachable"  # there, but it did not answer in time or refused


@dataclass(frozen=True, slots=True)
class Workload:
    """A container or pod sandbox and how to find its netns (PID, runtime path, or inode)."""

    owner: Owner
    pid: int = 0
    netns_path: str = ""  # e.g. Docker's SandboxKey /var/run/docker/netns/3f2a…
    netns_inode: int = 0  # filled by the gatherer (stat of /proc/PID/ns/net or netns_path)


@dataclass(frozen=True, slots=True)
class NetworkName:
    """A runtime network and the bridge device that carries it (``br-7e002e626de4`` → ``web``)."""

    bridge: str
    name: str
    runtime: str


@dataclass(frozen=True, slots=True)
class RuntimeReport:
    """One runtime's answer; ``status``/``detail`` are what ``brtrace doctor`` prints."""

    runtime: str
    status: str
    detail: str = ""
    workloads: tuple[Workload, ...] = ()
    networks: tuple[NetworkName, ...] = ()
    pods: tuple[PodAddress, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


class NameProvider(Protocol):
    """Asks one runtime; never raises, never waits longer than ``timeout`` seconds."""

    runtime: str

    def report(self, timeout: float) -> RuntimeReport: ...


def absent(runtime: str, why: str) -> RuntimeReport:
    return RuntimeReport(runtime, STATUS_ABSENT, why)


def unreachable(runtime: str, why: str) -> RuntimeReport:
    return RuntimeReport(runtime, STATUS_UNREACHABLE, why)


__all__ = ["STATUS_ABSENT", "STATUS_OK", "STATUS_UNREACHABLE", "NameProvider", "NetworkName",
           "RuntimeReport", "Workload", "absent", "unreachable"]
