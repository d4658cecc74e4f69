"""Every handler the hook table makes, as bcc's compiler and the kernel's verifier
see them: the kprobe variants too, which this kernel (no kprobes) never attaches
in a trace. The compile also runs brt_schema.h's checks of the event struct."""

from __future__ import annotations

import os

import pytest

from probes.loader import compile_probes
from probes.plan import load_plan
from tests.kernel.test_ping import no_brtrace_programs
from tracer.filter import TraceFilter
from tracer.model import Hook, HookMode, HookStatus

pytestmark = pytest.mark.kernel

FILTERS = [TraceFilter(), TraceFilter(icmp_id=7, fib_addrs=("10.244.1.3",)),
           TraceFilter(icmp_id=7, fib_addrs=("fd00:10:244:1::3", "fd00:10:244::2")),  # FIB6_ADDR_A/B
           TraceFilter(proto="udp", port=5299, only_drops=True),
           TraceFilter(host="198.51.100.2", proto="tcp", nat_follow=True),  # + the NAT-follow maps
           # an expression followed through NAT, on the outer packet and (--inner) inside VXLAN too:
           # the expression, the NAT following and the IPv6 parser in one program
           TraceFilter(expr="tcp and host 198.51.100.2", nat_follow=True),
           TraceFilter(expr="icmp and host 10.244.1.3", inner=True, nat_follow=True),
           TraceFilter(expr="udp and less 100", inner=True)]  # + skb->len (BRT_PCAP_LEN)


@pytest.mark.parametrize("netns", [False, True], ids=["any-netns", "netns-filter"])  # brtrace agent --netns
@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: f.describe() or "all")
def test_every_hook_handler_compiles_and_passes_the_verifier(flt: TraceFilter, netns: bool) -> None:
    _verify_all(flt, netns, without=())


@pytest.mark.parametrize("flt", [TraceFilter(proto="udp", port=9), FILTERS[5], FILTERS[-1]],
                         ids=lambda f: f.describe())
def test_the_typed_cast_build_passes_the_verifier_too(flt: TraceFilter) -> None:
    """A kernel with bpf_rdonly_cast but not its untyped form (6.2 to 6.15) builds the
    other side of every BRT_CAST_VOID choice: typed casts, byte-by-byte header reads."""
    _verify_all(flt, False, without=("BRT_CAST_VOID",))


def _verify_all(flt: TraceFilter, netns: bool, without: tuple[str, ...]) -> None:
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    import bcc

    plan = load_plan()
    macros = {k: v for k, v in plan.macros.items() if k not in without}
    kprobes = [HookStatus(h, HookMode.KPROBE, h.target) for h in Hook if not h.is_tracepoint]
    bpf = compile_probes(flt, macros, 128, 1, kprobes, netns_filter=netns)
    try:
        for h in Hook:
            kind = bcc.BPF.RAW_TRACEPOINT if h.is_tracepoint else bcc.BPF.KPROBE
            prefix = "brt_tp_" if h.is_tracepoint else "brt_kp_"
            assert bpf.load_func(f"{prefix}{h.function}".encode(), kind).fd >= 0, h
        assert bpf.load_func(b"brt_emit", bcc.BPF.RAW_TRACEPOINT).fd >= 0
    finally:
        bpf.cleanup()
    assert no_brtrace_programs()
