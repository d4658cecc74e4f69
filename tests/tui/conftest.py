"""Fixtures for the TUI tests: a recorded flannel ping, and sources built from it.

The recording (``data/flannel-ping.brt``: 3 probes pod-a → pod-b across the
VXLAN tunnel, recorded with ``brtrace ping --record``) replays without root.
Variants made from its events cover what a healthy run never shows: a drop,
and interface names that carry markup and escape sequences.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from textual.app import App

from tracer.model import ICMP_ECHO, Event, Hook, SourceStats
from tracer.record import ReplaySource
from tracer.source import SourceInfo
from tracer.topology.model import Topology

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "flannel-ping.brt"
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
EVIL = "[red]evil\x1b[2J"


class ListSource:
    """An EventSource over a list, handed out in fixed-size batches."""

    def __init__(self, info: SourceInfo, events: list[Event], batch: int = 40, lost: int = 0) -> None:
        self._info, self._events, self._batch, self._lost = info, events, batch, lost
        self._pos = 0
        self.closed = False

    @property
    def info(self) -> SourceInfo:
        return self._info

    def poll(self, timeout_ms: int = 100) -> Sequence[Event]:
        out = self._events[self._pos:self._pos + self._batch]
        self._pos += len(out)
        return out

    @property
    def exhausted(self) -> bool:
        return self._pos >= len(self._events)

    def stats(self) -> SourceStats:
        return SourceStats(events=self._pos, lost=self._lost)

    def close(self) -> None:
        self.closed = True


def screen_text(app: App[int]) -> str:
    """What the terminal shows now, as text: the screen composited as a snapshot would draw it."""
    width, height = app.size
    con = Console(width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False,
                  safe_box=False)
    con.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return con.export_text()


def sample_events() -> tuple[SourceInfo, list[Event]]:
    src = ReplaySource(SAMPLE)
    events: list[Event] = []
    while batch := src.poll():
        events.extend(batch)
    info = src.info
    src.close()
    return info, events


def _echo(e: Event, icmp_type: int, seq: int) -> bool:
    k = e.key
    return k.proto == 1 and k.icmp_type == icmp_type and k.dport == seq


def dropped_events() -> tuple[SourceInfo, list[Event]]:
    """Probe 3's request dies in node2 (a netfilter drop); its reply never exists."""
    info, events = sample_events()
    node2 = info.topology.find_netns("node2")
    assert node2 is not None
    req = [e for e in events if _echo(e, ICMP_ECHO, 3) and e.hook != Hook.FIB_TABLE_LOOKUP]
    cut = next(e for e in req if e.netns == node2.inode and e.inner is None)
    keep = [e for e in events if e.ts_ns <= cut.ts_ns]  # probe 3 is the last: nothing after
    drop = replace(cut, hook=Hook.KFREE_SKB, ts_ns=cut.ts_ns + 1500, reason_name="NETFILTER_DROP",
                   location_sym="nf_hook_slow+0x9c", drop_reason=6)
    return info, sorted(keep + [drop], key=lambda e: e.ts_ns)


def evil_events() -> tuple[SourceInfo, list[Event]]:
    """node1's veth-pod-a renamed to a name full of markup and an escape sequence."""
    info, events = sample_events()
    node1 = info.topology.find_netns("node1")
    assert node1 is not None
    ln = node1.link_by_name("veth-pod-a")
    assert ln is not None
    links = tuple(replace(x, name=EVIL) if x is ln else x for x in node1.links)
    namespaces = tuple(replace(ns, links=links) if ns is node1 else ns
                       for ns in info.topology.namespaces)
    topo = Topology(namespaces=namespaces, taken_at=info.topology.taken_at)
    events = [replace(e, ifname=EVIL) if e.netns == node1.inode and e.ifindex == ln.ifindex
              else e for e in events]
    return replace(info, topology=topo), events


@pytest.fixture
def sample() -> Path:
    return SAMPLE
