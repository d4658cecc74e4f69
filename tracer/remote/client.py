"""One connection to one agent: hello, clock, topology, a trace stream, probes.

Every failure is named after the agent (its node name once known, else its
address) and turned into one line: an agent that cannot be reached, dies or
speaks another schema must never look like "no packets".
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc

from tracer.agent import wire
from tracer.agent.pb.brtrace import agent_pb2 as pb
from tracer.agent.pb.brtrace import agent_pb2_grpc as pbg
from tracer.agent.security import TOKEN_HEADER, Security, channel_credentials, read_token, split_addr
from tracer.errors import BrtraceError
from tracer.filter import TraceFilter
from tracer.multinode.clock import ClockSample
from tracer.topology.model import Topology


def _timeout_scale() -> float:
    """BRTRACE_AGENT_TIMEOUT_SCALE stretches every wait on an agent.

    Why: agents on emulated machines (the two-kernel test's TCG VMs, 1 vCPU)
    answer a TLS handshake in seconds and compile their probes in a minute;
    the defaults are for real nodes. A bad value is ignored, never fatal.
    """
    try:
        return max(1.0, float(os.environ.get("BRTRACE_AGENT_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0


TIMEOUT_SCALE = _timeout_scale()
CALL_TIMEOUT_S = 5.0 * TIMEOUT_SCALE
CLOCK_SAMPLES = 16


class AgentError(BrtraceError):
    """One agent failed; the run goes on with the others where it can."""


def _why(exc: grpc.RpcError) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"unreachable ({details})"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return f"refused us: {details}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "did not answer in time"
    return f"{details}" if details else str(code)


@dataclass
class StreamItem:
    """What a trace stream thread hands the merge: records, a mark, or the end."""

    node: str
    records: wire.Records | None = None
    ended: str = ""  # why the stream ended ("" while it goes on)
    ready: bool = False  # the stream's first message: every hook of that node is live


@dataclass
class AgentClient:
    addr: str
    security: Security = field(default_factory=Security)
    node: str = ""
    info: pb.NodeInfoReply | None = None

    def __post_init__(self) -> None:
        split_addr(self.addr)
        creds = channel_credentials(self.security)
        opts = [("grpc.max_receive_message_length", wire.MAX_MESSAGE)]
        self._channel = (grpc.secure_channel(self.addr, creds, options=opts) if creds is not None
                         else grpc.insecure_channel(self.addr, options=opts))
        self._stub = pbg.AgentStub(self._channel)
        token = read_token(self.security.token_file) if self.security.token_file else ""
        self._meta = ((TOKEN_HEADER, f"Bearer {token}"),) if token else ()
        self._call: grpc.Future | None = None

    @property
    def name(self) -> str:
        return self.node or self.addr

    def _fail(self, exc: grpc.RpcError, what: str) -> AgentError:
        return AgentError(f"agent {self.name} ({self.addr}): {what}: {_why(exc)}")

    def hello(self) -> pb.NodeInfoReply:
        """Node info; checks the agent writes the event schema this client reads."""
        try:
            info: pb.NodeInfoReply = self._stub.NodeInfo(pb.NodeInfoRequest(), timeout=CALL_TIMEOUT_S,
                                                         metadata=self._meta)
        except grpc.RpcError as exc:
            raise self._fail(exc, "node info") from None
        self.info, self.node = info, info.node
        try:
            wire.check_schema(info.schema_version, f"agent {info.node} ({self.addr})")
        except wire.WireError as exc:
            raise AgentError(str(exc)) from None
        return info

    def clock(self, n: int = CLOCK_SAMPLES) -> list[ClockSample]:
        out = []
        try:
            for _ in range(n):
                t0 = time.monotonic_ns()
                r = self._stub.Clock(pb.ClockRequest(client_send_ns=t0), timeout=CALL_TIMEOUT_S,
                                     metadata=self._meta)
                out.append(ClockSample(t0, r.agent_recv_ns, r.agent_send_ns, time.monotonic_ns()))
        except grpc.RpcError as exc:
            raise self._fail(exc, "clock exchange") from None
        return out

    def topology(self) -> Topology:
        try:
            r = self._stub.Topology(pb.TopologyRequest(), timeout=30 * TIMEOUT_SCALE, metadata=self._meta)
            return Topology.from_dict(json.loads(r.topology_json))
        except grpc.RpcError as exc:
            raise self._fail(exc, "topology") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise AgentError(f"agent {self.name}: unreadable topology ({exc})") from None

    def send_probes(self, netns: str, dest: str, ident: int, count: int, interval: float,
                    size: int) -> pb.SendProbesReply:
        req = pb.SendProbesRequest(netns=netns, dest=dest, ident=ident, count=count,
                                   interval=interval, size=size)
        try:
            wait = count * interval + 30 * TIMEOUT_SCALE
            reply: pb.SendProbesReply = self._stub.SendProbes(req, timeout=wait, metadata=self._meta)
            return reply
        except grpc.RpcError as exc:
            raise self._fail(exc, "sending probes") from None

    def trace(self, flt: TraceFilter, snaplen: int, all_hooks: bool,
              out: queue.Queue[StreamItem]) -> threading.Thread:
        """Start the stream in a thread feeding ``out``; its first item means every hook is live."""
        req = pb.TraceRequest(host=flt.host or "", proto=flt.proto or "", fib_addrs=list(flt.fib_addrs),
                              only_drops=flt.only_drops, vxlan_port=flt.vxlan_port, snaplen=snaplen,
                              all_hooks=all_hooks, schema_version=wire.EVENT_SCHEMA_VERSION,
                              expr=flt.expr or "", inner=flt.inner)
        if flt.icmp_id is not None:
            req.icmp_id = flt.icmp_id
        if flt.port is not None:
            req.port = flt.port
        call = self._stub.Trace(req, metadata=self._meta)
        self._call = call
        th = threading.Thread(target=self._read, args=(call, out, flt.expr or ""), daemon=True,
                              name=f"brt-remote-{self.name}")
        th.start()
        return th

    def _read(self, call: Sequence[pb.TraceBatch], out: queue.Queue[StreamItem], expr: str) -> None:
        who = f"agent {self.name} ({self.addr})"
        why = "stream ended"
        try:
            for msg in call:
                if msg.ready and msg.expr != expr:  # an agent older than the field ignored it
                    raise wire.WireError(f"{who} did not apply the filter expression {expr!r} "
                                         "(an older brtrace agent): upgrade it, or use --host/--proto/--port")
                out.put(StreamItem(self.name, wire.records_of(msg, who), ready=msg.ready))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                why = _why(exc)
            else:
                why = "cancelled"
        except wire.WireError as exc:
            why = str(exc)
            self.cancel()
        out.put(StreamItem(self.name, ended=why))

    def cancel(self) -> None:
        if self._call is not None:
            self._call.cancel()

    def close(self) -> None:
        self.cancel()
        self._channel.close()
