from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HookState(_message.Message):
    __slots__ = ("hook", "mode", "detail")
    HOOK_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    hook: int
    mode: str
    detail: str
    def __init__(self, hook: _Optional[int] = ..., mode: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class NodeInfoReply(_message.Message):
    __slots__ = ("node", "kernel", "hooks", "version", "schema_version", "wire_version", "netns", "warnings")
    NODE_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    HOOKS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    WIRE_VERSION_FIELD_NUMBER: _ClassVar[int]
    NETNS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    node: str
    kernel: str
    hooks: _containers.RepeatedCompositeFieldContainer[HookState]
    version: str
    schema_version: int
    wire_version: int
    netns: _containers.RepeatedScalarFieldContainer[str]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, node: _Optional[str] = ..., kernel: _Optional[str] = ..., hooks: _Optional[_Iterable[_Union[HookState, _Mapping]]] = ..., version: _Optional[str] = ..., schema_version: _Optional[int] = ..., wire_version: _Optional[int] = ..., netns: _Optional[_Iterable[str]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class TopologyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TopologyReply(_message.Message):
    __slots__ = ("node", "topology_json")
    NODE_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_JSON_FIELD_NUMBER: _ClassVar[int]
    node: str
    topology_json: bytes
    def __init__(self, node: _Optional[str] = ..., topology_json: _Optional[bytes] = ...) -> None: ...

class TraceRequest(_message.Message):
    __slots__ = ("icmp_id", "host", "proto", "port", "fib_addrs", "only_drops", "vxlan_port", "snaplen", "all_hooks", "schema_version", "expr", "inner")
    ICMP_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PROTO_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    FIB_ADDRS_FIELD_NUMBER: _ClassVar[int]
    ONLY_DROPS_FIELD_NUMBER: _ClassVar[int]
    VXLAN_PORT_FIELD_NUMBER: _ClassVar[int]
    SNAPLEN_FIELD_NUMBER: _ClassVar[int]
    ALL_HOOKS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPR_FIELD_NUMBER: _ClassVar[int]
    INNER_FIELD_NUMBER: _ClassVar[int]
    icmp_id: int
    host: str
    proto: str
    port: int
    fib_addrs: _containers.RepeatedScalarFieldContainer[str]
    only_drops: bool
    vxlan_port: int
    snaplen: int
    all_hooks: bool
    schema_version: int
    expr: str
    inner: bool
    def __init__(self, icmp_id: _Optional[int] = ..., host: _Optional[str] = ..., proto: _Optional[str] = ..., port: _Optional[int] = ..., fib_addrs: _Optional[_Iterable[str]] = ..., only_drops: _Optional[bool] = ..., vxlan_port: _Optional[int] = ..., snaplen: _Optional[int] = ..., all_hooks: _Optional[bool] = ..., schema_version: _Optional[int] = ..., expr: _Optional[str] = ..., inner: _Optional[bool] = ...) -> None: ...

class TraceBatch(_message.Message):
    __slots__ = ("schema_version", "node", "snaplen", "records", "reasons", "syms", "lost", "events", "ready", "hooks", "read_to_ns", "expr")
    class ReasonsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    class SymsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    SNAPLEN_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    SYMS_FIELD_NUMBER: _ClassVar[int]
    LOST_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    HOOKS_FIELD_NUMBER: _ClassVar[int]
    READ_TO_NS_FIELD_NUMBER: _ClassVar[int]
    EXPR_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    node: str
    snaplen: int
    records: bytes
    reasons: _containers.ScalarMap[int, str]
    syms: _containers.ScalarMap[int, str]
    lost: int
    events: int
    ready: bool
    hooks: _containers.RepeatedCompositeFieldContainer[HookState]
    read_to_ns: int
    expr: str
    def __init__(self, schema_version: _Optional[int] = ..., node: _Optional[str] = ..., snaplen: _Optional[int] = ..., records: _Optional[bytes] = ..., reasons: _Optional[_Mapping[int, str]] = ..., syms: _Optional[_Mapping[int, str]] = ..., lost: _Optional[int] = ..., events: _Optional[int] = ..., ready: _Optional[bool] = ..., hooks: _Optional[_Iterable[_Union[HookState, _Mapping]]] = ..., read_to_ns: _Optional[int] = ..., expr: _Optional[str] = ...) -> None: ...

class SendProbesRequest(_message.Message):
    __slots__ = ("netns", "dest", "ident", "count", "interval", "size")
    NETNS_FIELD_NUMBER: _ClassVar[int]
    DEST_FIELD_NUMBER: _ClassVar[int]
    IDENT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    netns: str
    dest: str
    ident: int
    count: int
    interval: float
    size: int
    def __init__(self, netns: _Optional[str] = ..., dest: _Optional[str] = ..., ident: _Optional[int] = ..., count: _Optional[int] = ..., interval: _Optional[float] = ..., size: _Optional[int] = ...) -> None: ...

class ProbeTime(_message.Message):
    __slots__ = ("seq", "sent_ns", "rtt_ns", "error")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SENT_NS_FIELD_NUMBER: _ClassVar[int]
    RTT_NS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    seq: int
    sent_ns: int
    rtt_ns: int
    error: str
    def __init__(self, seq: _Optional[int] = ..., sent_ns: _Optional[int] = ..., rtt_ns: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class SendProbesReply(_message.Message):
    __slots__ = ("src_addr", "probes")
    SRC_ADDR_FIELD_NUMBER: _ClassVar[int]
    PROBES_FIELD_NUMBER: _ClassVar[int]
    src_addr: str
    probes: _containers.RepeatedCompositeFieldContainer[ProbeTime]
    def __init__(self, src_addr: _Optional[str] = ..., probes: _Optional[_Iterable[_Union[ProbeTime, _Mapping]]] = ...) -> None: ...

class ClockRequest(_message.Message):
    __slots__ = ("client_send_ns",)
    CLIENT_SEND_NS_FIELD_NUMBER: _ClassVar[int]
    client_send_ns: int
    def __init__(self, client_send_ns: _Optional[int] = ...) -> None: ...

class ClockReply(_message.Message):
    __slots__ = ("client_send_ns", "agent_recv_ns", "agent_send_ns")
    CLIENT_SEND_NS_FIELD_NUMBER: _ClassVar[int]
    AGENT_RECV_NS_FIELD_NUMBER: _ClassVar[int]
    AGENT_SEND_NS_FIELD_NUMBER: _ClassVar[int]
    client_send_ns: int
    agent_recv_ns: int
    agent_send_ns: int
    def __init__(self, client_send_ns: _Optional[int] = ..., agent_recv_ns: _Optional[int] = ..., agent_send_ns: _Optional[int] = ...) -> None: ...
