"""EventSource: the one interface the CLI and the TUI read events from.

A live source (``probes/loader.py``) and a replay source (``tracer/record``)
both satisfy it, which is what lets every view run on ``samples/`` without
root. Sources hand out *batches*: the kernel produces hundreds of thousands of
events per second under load, and per-event calls into Python are the
bottleneck (about 150k/s with naive bcc callbacks), so every consumer works
on lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tracer.model import Event, HookStatus, SourceStats
from tracer.topology.model import Topology


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Facts about where events come from; a recording's header stores these."""

    live: bool
    topology: Topology
    hooks: tuple[HookStatus, ...] = ()
    kernel: str = ""
    filter: str = ""
    command: str = ""


class EventSource(Protocol):
    """Something that yields batches of events until it is exhausted or closed."""

    @property
    def info(self) -> SourceInfo: ...

    def poll(self, timeout_ms: int = 100) -> Sequence[Event]:
        """Next batch (possibly empty); waits at most ``timeout_ms``."""
        ...

    @property
    def exhausted(self) -> bool:
        """True when no more events will ever come (end of a recording)."""
        ...

    def stats(self) -> SourceStats: ...

    def close(self) -> None:
        """Detach everything; idempotent, safe from a signal handler's aftermath."""
        ...


@runtime_checkable
class ReadMarked(Protocol):
    """A live source that knows how far it has read the kernel's ring.

    ``read_to_ns`` (CLOCK_MONOTONIC, the probes' clock), after a poll: every
    event stamped before it has been returned by this or an earlier poll. An
    agent sends it with each batch (tracer/agent/server.py); the client's
    merge releases an event once every node's mark has passed it.
    """

    @property
    def read_to_ns(self) -> int: ...


class SourceWrapper:
    """Passes another source through; subclasses add work to ``poll`` or ``close``.

    Recording a live trace and stopping it from the TUI are both wrappers, so
    every view keeps reading one EventSource whatever is stacked under it.
    """

    def __init__(self, source: EventSource) -> None:
        self.source = source

    @property
    def info(self) -> SourceInfo:
        return self.source.info

    def poll(self, timeout_ms: int = 100) -> Sequence[Event]:
        return self.source.poll(timeout_ms)

    @property
    def exhausted(self) -> bool:
        return self.source.exhausted

    def stats(self) -> SourceStats:
        return self.source.stats()

    def close(self) -> None:
        self.source.close()
