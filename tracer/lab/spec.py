"""What a lab is: its hosts, the devices each must have, and the code that builds it.

The spec is data first so tests and the tracer can ask "where is pod-b?" without
building anything, and so ``lab status`` can tell a complete lab from a
half-built one by comparing what exists with what should.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from tracer.errors import BrtraceError

T = TypeVar("T")

if TYPE_CHECKING:
    from tracer.lab.build import Builder

STATE_UP = "up"
STATE_PARTIAL = "partial"
STATE_DOWN = "down"


@dataclass(frozen=True)
class Lab:
    """One lab. ``hosts`` are netns labels (``brt-`` is prepended for the netns name)."""

    name: str
    description: str
    hosts: tuple[str, ...]
    addresses: Mapping[str, str]  # host -> its main IPv4 address (what you ping)
    devices: Mapping[str, tuple[str, ...]]  # host -> device names it must have (besides lo)
    build: Callable[[Builder], None] = field(repr=False)
    addresses6: Mapping[str, str] = field(default_factory=dict)  # host -> its IPv6 address (dual stack)

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(f"brt-{h}" for h in self.hosts)

    @property
    def marker(self) -> str:
        """Alias set on ``lo`` of the first host once the build finished."""
        return f"brtrace lab {self.name} complete"


@dataclass(frozen=True)
class LabInfo:
    """What ``up``/``status`` report: the lab's state and what exists of it."""

    name: str
    state: str  # up | partial | down
    present: tuple[str, ...]  # netns names that exist
    missing: tuple[str, ...]  # netns names that do not
    addresses: Mapping[str, str]
    problems: tuple[str, ...] = ()  # why a lab with all namespaces is still partial
    addresses6: Mapping[str, str] = field(default_factory=dict)

    def address_lines(self) -> list[str]:
        """``  brt-pod-a  10.244.0.2  fd00:10:244::2``: what to ping, both families."""
        return [f"  brt-{h}  {a}" + (f"  {self.addresses6[h]}" if h in self.addresses6 else "")
                for h, a in self.addresses.items()]

    def line(self) -> str:
        """One status line, e.g. ``flannel: up (brt-node1 brt-node2 …)``."""
        text = f"{self.name}: {self.state}"
        if self.present:
            text += " (" + " ".join(self.present) + ")"
        if self.state == STATE_PARTIAL:
            if self.missing:
                text += "; missing " + " ".join(self.missing)
            if self.problems:
                text += "; " + "; ".join(self.problems)
        return text


def choose(table: Mapping[str, T], name: str, what: str) -> T:
    """``table[name]``, or a clean usage error listing the choices (name shown escaped)."""
    item = table.get(name)
    if item is None:
        shown = name.encode("unicode_escape").decode("ascii")
        raise BrtraceError(f"unknown {what} '{shown}'; choose one of: {', '.join(table)}", 2)
    return item
