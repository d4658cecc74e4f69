"""The reject paths through bpf_rdonly_cast (brtrace.c: cast_reject for the
fixed filter, cast_pcap_reject for an expression, and the packet read in
place with BRT_CAST_VOID) against the probe-read path, on the same packets at
the same time.

cast_reject decides in the hook's own program, with plain loads, whether a
packet is not ours; a wrong "not ours" would silently drop a hop. Two live
sources, one with each path, are attached side by side on the flannel lab;
UDP to two ports crosses pod-a -> VXLAN -> pod-b, and both must keep exactly
the same events: the filter on the inner port (rejected at no hop), on the
VXLAN port (matched only between encapsulation and decapsulation: an skb
whose headers change under the same address), and on the other port.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from probes.loader import LiveSource, compile_probes
from probes.plan import load_plan
from tests.kernel.test_ping import no_brtrace_programs
from tests.support.drain import drain_quiet
from tests.support.udpsend import paced_udp
from tracer.filter import TraceFilter
from tracer.lab import LabInfo
from tracer.model import Event, Hook
from tracer.topology.model import empty_topology

pytestmark = pytest.mark.kernel

_SEND = paced_udp("10.244.1.3", port="5299 if i % 2 else 5300", size="32")


def _needs_cast() -> None:
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    if "BRT_CAST_FN" not in load_plan().macros:
        pytest.skip("this kernel does not let raw tracepoint programs call bpf_rdonly_cast")


def _key(e: Event) -> tuple[object, ...]:
    return (e.hook, e.skb, e.ifindex, e.netns, e.outer, e.inner, e.route)


def _drain(src: LiveSource, out: list[Event]) -> None:
    drain_quiet(src, out)


def _filter(kind: str, port: int) -> TraceFilter:
    if kind == "fixed":
        return TraceFilter(proto="udp", port=port)
    if "BRT_CAST_VOID" not in load_plan().macros:
        pytest.skip("an expression is read in place only where bpf_rdonly_cast(p, 0) is allowed")
    if kind == "expr":  # the IPv4 header's length makes the port's offset a computed one
        return TraceFilter(expr=f"udp port {port}")
    return TraceFilter(expr=f"udp port {port}", inner=True)  # decided after the parse


@pytest.mark.parametrize("kind", ["fixed", "expr", "expr-inner"])
@pytest.mark.parametrize("port", [5299, 5300, 8472], ids=["inner-port", "other-port", "vxlan-port"])
def test_cast_reject_keeps_what_the_probe_read_path_keeps(flannel_lab: LabInfo, port: int, kind: str) -> None:
    _needs_cast()
    flt = _filter(kind, port)
    fast = LiveSource(flt, empty_topology())
    try:
        slow = LiveSource(flt, empty_topology(), cast_reject=False)
        try:
            subprocess.run(["ip", "netns", "exec", "brt-pod-a", sys.executable, "-c", _SEND],
                           check=True, timeout=30)
            got_fast: list[Event] = []
            got_slow: list[Event] = []
            _drain(fast, got_fast)
            _drain(slow, got_slow)
        finally:
            slow.close()
    finally:
        fast.close()
    packets = [e for e in got_fast if e.hook not in (Hook.FIB_TABLE_LOOKUP, Hook.BR_FDB_UPDATE)]
    assert len(packets) >= 20 * 4, len(packets)  # each matching datagram, hop after hop
    for e in packets:  # and only packets the filter names (inside VXLAN: --inner, or the shorthand)
        inner = kind != "expr" and e.inner is not None and port in (e.inner.sport, e.inner.dport)
        assert port in (e.outer.sport, e.outer.dport) or inner, e
    assert sorted(map(_key, got_fast), key=repr) == sorted(map(_key, got_slow), key=repr)
    assert no_brtrace_programs()


def test_only_a_filter_that_can_reject_early_compiles_the_cast_path() -> None:
    """The skb tracepoints' own programs carry the kfunc calls (patched from the
    marker helper) with a fixed filter, and with an expression where the
    packet can be read in place, but not with --inner (decided after the
    parse) or no filter; brt_emit reads the skb's fields through the cast with
    any filter."""
    _needs_cast()
    plan = load_plan()
    void = "BRT_CAST_VOID" in plan.macros

    def kfunc_calls(bpf: object, name: str) -> int:
        code = bpf.dump_func(name.encode())  # type: ignore[attr-defined]
        return sum(1 for o in range(0, len(code), 8) if code[o] == 0x85 and code[o + 1] >> 4 == 2)

    for flt, expect in ((TraceFilter(proto="udp", port=5299), True), (TraceFilter(), False),
                        (TraceFilter(expr="udp port 5299"), void),
                        (TraceFilter(expr="udp port 5299", inner=True), False)):
        bpf = compile_probes(flt, plan.macros, 128, 1, [])
        try:
            for h in (Hook.NET_DEV_QUEUE, Hook.NETIF_RECEIVE_SKB, Hook.KFREE_SKB):
                assert (kfunc_calls(bpf, f"brt_tp_{h.function}") > 0) is expect, (flt, h)
            assert kfunc_calls(bpf, "brt_emit") > 0
        finally:
            bpf.cleanup()


def test_the_plans_cast_checks_answer_on_this_kernel() -> None:
    """The plan's test loads (probes/bpfsys.py), run here rather than read from the per-boot
    plan cache: both casts load where the plan says so, and a load past the type cast to
    (BTF id 1, a 4-byte integer in vmlinux, read at byte 12) is refused."""
    _needs_cast()
    from probes import bpfsys
    from probes.btf import BTF
    from probes.offsets import offset_macros
    from probes.plan import CAST_BYTES

    btf = BTF.load()
    cast, skb = btf.func_id("bpf_rdonly_cast"), btf.struct_id("sk_buff")
    head = offset_macros(btf)["OFF_SKB_HEAD"]
    assert bpfsys.try_rdonly_cast(cast, skb, head, btf.byte_array_struct(CAST_BYTES)).ok
    assert bpfsys.try_rdonly_cast_void(cast, skb, head).ok is ("BRT_CAST_VOID" in load_plan().macros)
    assert not bpfsys.try_rdonly_cast(cast, skb, head, 1).ok
