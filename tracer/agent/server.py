"""The agent's gRPC service: one node's kernel, topology, probes and clock.

Each Trace call loads its own probes with the caller's filter (the filter
is compiled into the C program) limited to the agent's namespaces in the
kernel, streams the raw records in batches until the caller cancels, and
detaches on every way out. An empty batch every HEARTBEAT_S says how far the
ring has been read, so a quiet node does not hold the client's merge back.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc

from tracer.agent import wire
from tracer.agent.pb.brtrace import agent_pb2 as pb
from tracer.agent.pb.brtrace import agent_pb2_grpc as pbg
from tracer.agent.security import Security, TokenCheck, read_token, server_credentials
from tracer.errors import BrtraceError
from tracer.filter import TraceFilter
from tracer.model import HookStatus
from tracer.source import ReadMarked
from tracer.topology.model import Topology

# An empty batch this often when the ring is idle: the client's merge releases an
# event only once every node's read mark has passed it, so an idle node's
# heartbeat bounds how late a sparse trace (a ping) shows across nodes.
HEARTBEAT_S = 0.02


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("brtrace")
    except PackageNotFoundError:
        return "unknown"


VERSION = _version()


@dataclass
class AgentConfig:
    node: str = field(default_factory=socket.gethostname)
    netns: tuple[str, ...] = ()  # names; empty: every namespace
    listen: str = "127.0.0.1:7946"
    security: Security = field(default_factory=Security)


class Kernel:
    """What the service needs from this machine; the CLI wires the real parts in."""

    def __init__(self, discover: Callable[[], Topology], open_source: Callable[..., Any],
                 ping: Callable[..., pb.SendProbesReply], kernel: str,
                 hooks: Callable[[], Sequence[HookStatus]], warnings: Sequence[str] = ()) -> None:
        self.discover, self.open_source, self.ping = discover, open_source, ping
        self.kernel, self.hooks = kernel, hooks
        self.warnings = tuple(warnings)  # what limits this agent, one line each (NodeInfo carries them)


def _hook_states(hooks: Sequence[HookStatus]) -> list[pb.HookState]:
    return [pb.HookState(hook=int(h.hook), mode=h.mode, detail=h.detail) for h in hooks]


def trace_filter(req: pb.TraceRequest) -> TraceFilter:
    return TraceFilter(icmp_id=req.icmp_id if req.HasField("icmp_id") else None,
                       host=req.host or None, proto=req.proto or None,
                       port=req.port if req.HasField("port") else None,
                       fib_addrs=tuple(req.fib_addrs), only_drops=req.only_drops,
                       vxlan_port=req.vxlan_port or 8472, expr=req.expr or None, inner=req.inner)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class AgentService(pbg.AgentServicer):  # type: ignore[misc]
    def __init__(self, cfg: AgentConfig, kern: Kernel, log: Callable[[str], None] = _log) -> None:
        self.cfg, self.kern, self.log = cfg, kern, log

    def NodeInfo(self, request: pb.NodeInfoRequest, context: grpc.ServicerContext) -> pb.NodeInfoReply:
        return pb.NodeInfoReply(node=self.cfg.node, kernel=self.kern.kernel,
                                hooks=_hook_states(self.kern.hooks()), version=VERSION,
                                schema_version=wire.EVENT_SCHEMA_VERSION,
                                wire_version=wire.WIRE_VERSION, netns=list(self.cfg.netns),
                                warnings=list(self.kern.warnings))

    def Topology(self, request: pb.TopologyRequest, context: grpc.ServicerContext) -> pb.TopologyReply:
        import json

        topo = self.kern.discover()
        return pb.TopologyReply(node=self.cfg.node, topology_json=json.dumps(topo.to_dict()).encode())

    def Clock(self, request: pb.ClockRequest, context: grpc.ServicerContext) -> pb.ClockReply:
        t1 = time.monotonic_ns()  # bpf_ktime_get_ns is CLOCK_MONOTONIC too
        return pb.ClockReply(client_send_ns=request.client_send_ns, agent_recv_ns=t1,
                             agent_send_ns=time.monotonic_ns())

    def SendProbes(self, request: pb.SendProbesRequest, context: grpc.ServicerContext) -> pb.SendProbesReply:
        try:
            return self.kern.ping(request)
        except BrtraceError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{self.cfg.node}: {exc}")
            raise  # not reached: abort raises

    def Trace(self, request: pb.TraceRequest, context: grpc.ServicerContext) -> Iterator[pb.TraceBatch]:
        """Probes with the caller's filter, limited to this agent's namespaces; detached on every way out."""
        try:
            wire.check_schema(request.schema_version, "the client")
        except wire.WireError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        try:
            flt = trace_filter(request)  # an expression: the loader compiles it with this node's libpcap
            source = self.kern.open_source(flt, request.snaplen or 128, request.all_hooks)
        except BrtraceError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{self.cfg.node}: {exc}")
        who = f"brtrace agent {self.cfg.node}: stream for {context.peer()}"
        self.log(f"{who} ({source.info.filter}): probes live")
        try:
            yield pb.TraceBatch(schema_version=wire.EVENT_SCHEMA_VERSION, node=self.cfg.node,
                                ready=True, hooks=_hook_states(source.info.hooks),
                                lost=source.stats().lost, read_to_ns=time.monotonic_ns(),
                                expr=flt.expr or "")
            yield from self._stream(source, context)
        finally:
            source.close()
            self.log(f"{who}: ended, probes detached ({source.stats().events} events read)")

    def _stream(self, source: Any, context: grpc.ServicerContext) -> Generator[pb.TraceBatch, None, int]:
        """Batches as the ring gives them, or a heartbeat saying how far it was read, until cancelled."""
        sent = 0
        beat = 0.0
        marked = isinstance(source, ReadMarked)  # once: a protocol check costs microseconds, polls run ~1k/s
        while context.is_active():
            before = time.monotonic_ns()
            batch = source.poll(int(HEARTBEAT_S * 1000))
            read_to = source.read_to_ns if marked else before
            lost = source.stats().lost
            if len(batch):
                for msg in wire.batch_messages(self.cfg.node, batch.arr, batch.decoder, lost, sent,
                                               read_to):
                    sent = msg.events
                    yield msg
                beat = time.monotonic()
            elif time.monotonic() - beat >= HEARTBEAT_S:
                beat = time.monotonic()
                yield pb.TraceBatch(schema_version=wire.EVENT_SCHEMA_VERSION, node=self.cfg.node,
                                    lost=lost, events=sent, read_to_ns=read_to)
        return sent


def serve(cfg: AgentConfig, kern: Kernel, ready: Callable[[int], None] | None = None,
          stop: threading.Event | None = None, log: Callable[[str], None] = _log) -> None:
    """Serve until ``stop`` is set (or forever); ``ready`` gets the bound port."""
    sec = cfg.security
    interceptors = [TokenCheck(read_token(sec.token_file))] if sec.token_file else []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="brt-agent"),
                         interceptors=interceptors, maximum_concurrent_rpcs=32,
                         options=[("grpc.max_send_message_length", wire.MAX_MESSAGE)])
    pbg.add_AgentServicer_to_server(AgentService(cfg, kern, log), server)
    creds = server_credentials(sec)
    try:
        port = (server.add_secure_port(cfg.listen, creds) if creds is not None
                else server.add_insecure_port(cfg.listen))
    except RuntimeError as exc:
        raise BrtraceError(f"cannot listen on {cfg.listen}: {exc}") from None
    if not port:
        raise BrtraceError(f"cannot listen on {cfg.listen} (address in use or not local)")
    server.start()
    if ready is not None:
        ready(port)
    try:
        (stop or threading.Event()).wait()
    finally:
        server.stop(grace=0.5).wait()
