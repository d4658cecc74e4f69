"""The client's session over real gRPC agents on loopback, without a kernel: each
agent serves a synthetic ring (bench/agent_stream.py's source) as its trace
stream. A stopped agent is named and the others go on; a stalled one is named
as lagging."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench.agent_stream import SyntheticSource
from tracer.agent.pb.brtrace import agent_pb2 as pb
from tracer.agent.security import Security
from tracer.agent.server import AgentConfig, Kernel, serve
from tracer.errors import BrtraceError
from tracer.filter import TraceFilter
from tracer.remote.client import AgentClient
from tracer.remote.session import connect
from tracer.remote.source import RemoteSource
from tracer.topology.model import Topology


class _Stalling(SyntheticSource):
    """Streams, then stops answering (a node whose agent hangs)."""

    def __init__(self, n: int, rate: int, stall_after: float) -> None:
        super().__init__(n, rate)
        self._until = time.monotonic() + stall_after

    def poll(self, timeout_ms: int = 100) -> Any:
        if time.monotonic() > self._until:
            time.sleep(3.0)
        return super().poll(timeout_ms)


def _no(*a: object) -> pb.SendProbesReply:
    raise BrtraceError("no probes here")


def _agent(node: str, make: Any) -> tuple[str, threading.Event, threading.Thread]:
    kern = Kernel(Topology, make, _no, "synthetic", lambda: [])
    port: list[int] = []
    up, stop = threading.Event(), threading.Event()

    def ready(p: int) -> None:
        port.append(p)
        up.set()

    th = threading.Thread(target=serve, args=(AgentConfig(node=node, listen="127.0.0.1:0"), kern, ready, stop,
                                              lambda msg: None), daemon=True)
    th.start()
    assert up.wait(10)
    return f"127.0.0.1:{port[0]}", stop, th


@pytest.fixture
def agents() -> Iterator[dict[str, tuple[str, threading.Event, threading.Thread]]]:
    out = {"n1": _agent("n1", lambda f, s, a: SyntheticSource(10**6, 5_000)),
           "n2": _agent("n2", lambda f, s, a: SyntheticSource(10**6, 5_000)),
           "n3": _agent("n3", lambda f, s, a: _Stalling(10**6, 5_000, 0.5))}
    yield out
    for _, stop, th in out.values():
        stop.set()
        th.join(5)


def test_a_stopped_agent_is_named_a_stalled_one_lags_and_the_others_go_on(
        agents: dict[str, tuple[str, threading.Event, threading.Thread]]) -> None:
    warned: list[str] = []
    sess = connect([a for a, _, _ in agents.values()], lambda a: AgentClient(a, Security()))
    sess.on_warn = warned.append
    assert set(sess.clients) == {"n1", "n2", "n3"} and set(sess.clocks) == {"n1", "n2", "n3"}
    src = RemoteSource(sess, TraceFilter())
    got = {"before": 0, "after": 0}
    t_end = time.monotonic() + 4.5
    stopped = False
    while time.monotonic() < t_end:
        if not stopped and time.monotonic() > t_end - 3.0:
            agents["n2"][1].set()  # n2's agent goes away mid-run
            stopped = True
        got["after" if stopped else "before"] += len(src.poll(50))
    assert "gone" in sess.dead.get("n2", ""), sess.dead
    assert any("agent n2" in w and "the other nodes go on" in w for w in warned), warned
    assert any("agent n3" in w and "lags" in w for w in warned), warned
    assert got["before"] > 0 and got["after"] > 0  # n1 kept flowing after n2 went, n3 lagging
    assert "n2 agent gone" in src.nodes_note()
    src.close()
