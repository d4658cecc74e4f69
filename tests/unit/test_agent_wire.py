"""The agent's wire without a kernel: record batches through real gRPC on
loopback, schema checks, bearer tokens, the listen rule."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from tests.support.synth import flannel_batch
from tracer.agent import wire
from tracer.agent.pb.brtrace import agent_pb2 as pb
from tracer.agent.security import Security, check_listen
from tracer.agent.server import AgentConfig, AgentService, Kernel, serve
from tracer.errors import BrtraceError
from tracer.model import Hook, HookMode, HookStatus
from tracer.remote.client import AgentClient, AgentError
from tracer.schema.decode import Decoder
from tracer.schema.event import record_dtype
from tracer.topology.model import Topology


def test_batches_round_trip_as_the_kernel_wrote_them() -> None:
    arr = flannel_batch(2 * wire.BATCH_RECORDS + 100)
    msgs = wire.batch_messages("node1", arr, Decoder(), lost=3, sent=0, read_to_ns=99)
    assert len(msgs) == 3 and msgs[-1].events == len(arr)  # never one message per event
    back = np.concatenate([wire.records_of(m, "agent node1").arr for m in msgs])
    assert back.tobytes() == arr.tobytes()
    assert len(msgs[0].records) == wire.BATCH_RECORDS * record_dtype().itemsize  # ring records
    assert all(m.schema_version == wire.EVENT_SCHEMA_VERSION and m.lost == 3 for m in msgs)


def test_a_batch_of_another_schema_or_damaged_is_one_clear_error() -> None:
    msg = wire.batch_messages("n", flannel_batch(10), Decoder(), 0, 0, 0)[0]
    msg.schema_version = wire.EVENT_SCHEMA_VERSION + 1
    with pytest.raises(wire.WireError, match=r"sends event schema version \d+, this brtrace reads"):
        wire.records_of(msg, "agent n")
    msg.schema_version = wire.EVENT_SCHEMA_VERSION
    msg.records = msg.records[:-1]
    with pytest.raises(wire.WireError, match="whole number"):
        wire.records_of(msg, "agent n")


def test_non_loopback_without_tls_and_auth_is_refused() -> None:
    with pytest.raises(BrtraceError, match="refusing to listen on 10.0.0.1:7946"):
        check_listen("10.0.0.1:7946", Security())
    with pytest.raises(BrtraceError, match="refusing"):
        check_listen("0.0.0.0:7946", Security(tls_cert="c", tls_key="k"))  # TLS but nobody checked
    check_listen("0.0.0.0:7946", Security(tls_cert="c", tls_key="k", token_file="t"))
    check_listen("127.0.0.1:7946", Security())
    check_listen("[::1]:7946", Security())


def _kernel() -> Kernel:
    """Node info, clock and topology are real; tracing and probes need a kernel (tests/kernel)."""
    def no(*a: object) -> pb.SendProbesReply:
        raise BrtraceError("not on this test kernel")

    return Kernel(Topology, no, no, "test", lambda: [HookStatus(Hook.NET_DEV_QUEUE, HookMode.OFF)])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real agent service (no probes) on a loopback port, with a bearer token."""
    token = tmp_path / "token"
    token.write_text("0123456789abcdef-token\n")
    cfg = AgentConfig(node="t1", listen="127.0.0.1:0", security=Security(token_file=str(token)))
    port: list[int] = []
    up, stop = threading.Event(), threading.Event()

    def ready(p: int) -> None:
        port.append(p)
        up.set()

    th = threading.Thread(target=serve, args=(cfg, _kernel(), ready, stop), daemon=True)
    th.start()
    assert up.wait(10)
    yield f"127.0.0.1:{port[0]}", token
    stop.set()
    th.join(5)


def test_bearer_token_is_required(served: tuple[str, Path], tmp_path: Path) -> None:
    addr, token = served
    with pytest.raises(AgentError, match=r"agent 127.0.0.1:\d+ .*refused us"):
        AgentClient(addr).hello()
    wrong = tmp_path / "wrong"
    wrong.write_text("fedcba9876543210-token\n")
    with pytest.raises(AgentError, match="refused us"):
        AgentClient(addr, Security(token_file=str(wrong))).hello()
    c = AgentClient(addr, Security(token_file=str(token)))
    info = c.hello()
    assert info.node == "t1" and info.schema_version == wire.EVENT_SCHEMA_VERSION
    samples = c.clock(4)
    assert len(samples) == 4 and all(s.t0 <= s.t3 for s in samples)
    c.close()


def test_client_refuses_an_agent_of_another_schema() -> None:
    """A real gRPC server answering as an agent of a newer brtrace would."""
    from concurrent import futures

    from tracer.agent.pb.brtrace import agent_pb2_grpc as pbg

    class Newer(AgentService):
        def NodeInfo(self, request: pb.NodeInfoRequest, context: grpc.ServicerContext) -> pb.NodeInfoReply:
            r = super().NodeInfo(request, context)
            r.schema_version = wire.EVENT_SCHEMA_VERSION + 1
            return r

    server = grpc.server(futures.ThreadPoolExecutor(2))
    pbg.add_AgentServicer_to_server(Newer(AgentConfig(node="n9"), _kernel()), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with pytest.raises(AgentError, match=r"agent n9 \(127.0.0.1:\d+\) sends event schema version"):
            AgentClient(f"127.0.0.1:{port}").hello()
    finally:
        server.stop(0)


def test_unreachable_agent_is_named() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    want = rf"agent 127.0.0.1:{port} \(127.0.0.1:{port}\): node info: unreachable"
    with pytest.raises(AgentError, match=want):
        AgentClient(f"127.0.0.1:{port}").hello()
