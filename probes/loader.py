"""The live EventSource: compile the C program, attach every hook, poll batches.

The only module that loads probes through bcc (``tracer/cli/doctor_cmd.py``
imports bcc too, only to report whether it imports). Hooks come from the hook
table (``tracer/schema/hooks.py``) and are chosen one by one by the plan
(``probes/plan.py``: :func:`~probes.plan.plan_hooks`): tracepoints as raw
tracepoints where they exist, function hooks as kprobes where the kernel has
kprobes, else fentry where a real load proves it works, else off — and the
choice is reported, never hidden.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from probes import cacheload, childload, cpuring, kernel, progcache
from probes.bpfsys import kfunc_call
from probes.cgen import HEADER_NAME, schema_header
from probes.cpus import PossibleCpus
from probes.drain import RingDrain
from probes.pcap import compile_both
from probes.plan import choose_hooks, load_plan, signals_held, without_casts
from probes.progcache import CompileInputs
from probes.ringbuf import RingBuffer
from tracer.errors import BrtraceError, NeedRoot
from tracer.filter import CFG_MAP, TraceFilter, with_topology
from tracer.model import Event, HookMode, HookStatus, SourceStats
from tracer.pcapf.translate import HEADER_NAME as FILTER_HEADER
from tracer.pcapf.translate import filter_header
from tracer.schema.decode import Decoder
from tracer.schema.event import (
    DEFAULT_SNAPLEN,
    hop_record_dtype,
    raw_record_dtype,
    record_dtype,
    route_record_dtype,
)
from tracer.source import SourceInfo
from tracer.topology.model import Topology

PROBE_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(PROBE_DIR, "brtrace.c")
RINGBUF_PAGES = 2048  # 8 MiB: ~27k events of 296 bytes between two polls


def spill_pages(pages: int) -> int:
    """The spill ring's size (brtrace.c: reserve()): 1/32 of the main ring.

    It takes the rare event the main ring's lock refuses (~1 in 10^4 at a
    flood) and a full main ring's overflow; a user who asks for a tiny ring
    gets a tiny spill ring too.
    """
    return max(1, pages // 32)


def route_pages(pages: int) -> int:
    """A CPU's route ring (brtrace.c: emit_route): 1/8 of the main ring (a
    route record is ~1/4 of a full one; a packet has fewer lookups than hooks)."""
    return max(1, pages // 8)


def hop_pages(pages: int) -> int:
    """A CPU's hop ring (brtrace.c: emit_hop): 1/4 of the main ring, as a
    hop record is ~1/4 of a full one and a traced packet has about as many."""
    return max(1, pages // 4)


def raw_pages(pages: int) -> int:
    """A CPU's raw ring (brtrace.c: emit_raw): the main ring's size. A traced
    IPv4 packet's records that are not hops are mostly raw ones; a refused
    one falls back to the main ring, so neither needs to hold a whole burst."""
    return pages


def ring_layouts(pages: int, snaplen: int) -> dict[bytes, tuple[int, np.dtype]]:
    """Every BPF ring buffer the probes write (brtrace.c's BPF_RINGBUF_OUTPUTs):
    its size in pages and its records' layout."""
    return {b"events": (pages, record_dtype(snaplen)),
            b"spill": (spill_pages(pages), record_dtype(snaplen))}


@dataclasses.dataclass(frozen=True)
class CpuRingLayout:
    """The per-CPU rings of hop, raw and route records (brtrace.c: cpu_head;
    probes/cpuring.py): slots per CPU of each, sized like the BPF rings they replaced."""

    ncpu: int
    hop_slots: int
    raw_slots: int
    route_slots: int

    @classmethod
    @functools.cache
    def for_pages(cls, pages: int) -> CpuRingLayout:
        """One per ring size and process: the compile's cflags and the mapping
        of the loaded maps must agree, so both take this one."""
        page = os.sysconf("SC_PAGE_SIZE")
        n = PossibleCpus.read().id_limit
        return cls(n, cpuring.slots_per_cpu(hop_pages(pages) * page, hop_record_dtype().itemsize, n),
                   cpuring.slots_per_cpu(raw_pages(pages) * page, raw_record_dtype().itemsize, n),
                   cpuring.slots_per_cpu(route_pages(pages) * page, route_record_dtype().itemsize, n))

    def _rings(self) -> tuple[tuple[cpuring.Ring, int, np.dtype], ...]:
        """(ring, slots, record layout) of each ring."""
        return ((cpuring.Ring.HOPS, self.hop_slots, hop_record_dtype()),
                (cpuring.Ring.RAWS, self.raw_slots, raw_record_dtype()),
                (cpuring.Ring.ROUTES, self.route_slots, route_record_dtype()))

    def cflags(self) -> list[str]:
        flags = [f"-DBRT_NCPU={self.ncpu}", f"-DCPU_POS_WORDS={cpuring.POS_WORDS}",
                 f"-DCPU_POS_TAIL={cpuring.POS_TAIL}", f"-DCPU_RINGS={cpuring.RINGS}"]
        for ring, slots, dtype in self._rings():
            kind = ring.record_kind
            flags += [f"-DCPU_RING_{ring.name}={int(ring)}", f"-D{kind}_SLOTS={slots}",
                      f"-D{kind}_SLOT_BYTES={dtype.itemsize}"]
        return flags

    def open(self, bpf: Any) -> tuple[cpuring.CpuRing, ...]:
        """The hop, raw and route rings, mapped from the loaded program's maps."""
        pos = cpuring.CpuPositions.from_fd(bpf[b"cpu_pos"].map_fd, self.ncpu)
        return tuple(cpuring.CpuRing.from_fd(bpf[ring.map_name].map_fd, pos, ring, slots, dtype)
                     for ring, slots, dtype in self._rings())


# The reject path reads the skb and its headers with plain loads through
# bpf_rdonly_cast (brtrace.c: cast_reject) instead of two bpf_probe_read_kernel
# calls, which were two thirds of what a rejected packet cost each hook (bench
# probecost, 6.18). bcc's LLVM cannot emit a kfunc call, so the C program calls
# a helper id no kernel has (CAST_MARK) and patch_casts turns exactly those
# calls into kfunc calls of bpf_rdonly_cast before anything is loaded; an
# unpatched call would be refused by the verifier, never run. Whether this
# kernel allows the cast is the plan's to test (probes/plan.py: cast_macros).
CAST_MARK = 0x7FF0


def patch_casts(bpf: Any, cast_fn: int) -> int:
    """Rewrite every call of helper CAST_MARK in the compiled (not yet loaded)
    functions into a kfunc call of bpf_rdonly_cast; returns how many."""
    lib = _import_bcc().lib
    done = 0
    for i in range(lib.bpf_num_functions(bpf.module)):
        name = lib.bpf_function_name(bpf.module, i)
        start, size = lib.bpf_function_start(bpf.module, name), lib.bpf_function_size(bpf.module, name)
        code = ctypes.string_at(start, size)
        for off in range(0, size - 7, 8):
            op, regs, _, imm = struct.unpack_from("<BBhi", code, off)
            if op == 0x85 and regs == 0 and imm == CAST_MARK:  # call, src_reg 0: a helper
                ctypes.memmove(start + off, kfunc_call(cast_fn), 8)
                done += 1
    return done


# Struct fields the probes read together, with their sizes: each group is one
# probe read of the window that spans it when the fields lie close enough
# (brtrace.c: read_skbf, fill_dev, the route lookup), else one read per field.
# Every probe read costs about as much as copying a couple of hundred bytes.
WINDOWS: dict[str, dict[str, int]] = {
    "SKB": {"OFF_SKB_HEAD": 8, "OFF_SKB_DATA": 8, "OFF_SKB_TAIL": 4, "OFF_SKB_MAC_HEADER": 2,
            "OFF_SKB_NETWORK_HEADER": 2, "OFF_SKB_PROTOCOL": 2, "OFF_SKB_VLAN_TCI": 2},
    # read only for packets the filter kept
    "SKBM": {"OFF_SKB_LEN": 4, "OFF_SKB_PKT_TYPE": 1, "OFF_SKB_DEV": 8},
    "DEV": {"OFF_DEV_IFINDEX": 4, "OFF_DEV_ND_NET": 8, "OFF_DEV_NAME": 16},
    "FLP": {"OFF_FLOWI4_DADDR": 4, "OFF_FLOWI4_SADDR": 4, "OFF_FLOWI4_OIF": 4,
            "OFF_FLOWI4_IIF": 4, "OFF_FLOWI4_PROTO": 1},
    "NHC": {"OFF_NHC_DEV": 8, "OFF_NHC_GW_FAMILY": 1, "OFF_NHC_GW": 4},
}
WINDOW_MAX = 256  # bytes on the BPF stack (512 in all)
# Groups whose window may be widened to take in another group's fields when
# the union still fits (then emitted events need no read of their own). None
# is: a probe read's cost grows with its length, and the SKB window is read at
# every hook for every packet, the SKBM one only for events emitted. Measured
# side by side (bench probecost, 6.18): the 192-byte merged SKB window cost a
# rejected packet 4 ns more per hook than the 32-byte SKB one, and the traced
# case gained nothing from it.
MERGED: dict[str, str] = {}


def _span(macros: dict[str, int], fields: dict[str, int]) -> tuple[int, int]:
    lo = min(macros[k] for k in fields) & ~7
    hi = max(macros[k] + n for k, n in fields.items())
    return lo, (hi - lo + 7) & ~7


def read_windows(macros: dict[str, int]) -> list[str]:
    """-D flags (PFX_WIN_LO, PFX_WIN_LEN) for each group whose fields are close together."""
    out: list[str] = []
    absorbed: set[str] = set()
    for prefix, fields in WINDOWS.items():
        if prefix in absorbed:  # its fields come with the window that took them in
            continue
        extra = MERGED.get(prefix)
        if extra is not None:
            lo, size = _span(macros, {**fields, **WINDOWS[extra]})
            if size <= WINDOW_MAX:
                out += [f"-D{prefix}_WIN_LO={lo}", f"-D{prefix}_WIN_LEN={size}",
                        f"-D{prefix}_WIN_META=1"]
                absorbed.add(extra)
                continue
        lo, size = _span(macros, fields)
        if size <= WINDOW_MAX:
            out += [f"-D{prefix}_WIN_LO={lo}", f"-D{prefix}_WIN_LEN={size}"]
    return out




def _require_root() -> None:
    if os.geteuid() != 0:
        raise NeedRoot("tracing")


def _import_bcc() -> Any:
    try:
        import bcc
    except ImportError:
        raise BrtraceError("bcc is not installed: apt-get install python3-bpfcc bpfcc-tools "
                           "(run `brtrace doctor` for details)") from None
    return bcc


def compile_inputs(flt: TraceFilter, macros: dict[str, int], snaplen: int, pages: int,
                   hooks: Sequence[HookStatus], netns_filter: bool = False) -> CompileInputs:
    """The cflags and generated headers brtrace.c is compiled with (and the
    compiled-program cache is keyed by, probes/progcache.py).

    ``netns_filter``: keep only the namespaces put in netns_allow (brtrace.c: FILTER_NETNS).
    """
    cflags = [f"-D{k}={v}" for k, v in macros.items()]
    cflags += read_windows(macros)
    cflags += flt.cflags() + [f"-DBRT_SNAPLEN={snaplen}", f"-DRINGBUF_PAGES={pages}",
                              f"-DSPILL_PAGES={spill_pages(pages)}",
                              *CpuRingLayout.for_pages(pages).cflags(),
                              f"-I{PROBE_DIR}", "-Wno-macro-redefined"]
    if netns_filter:
        cflags.append("-DFILTER_NETNS=1")
    if "BRT_CAST_FN" in macros:
        cflags.append(f"-DBRT_CAST_MARK={CAST_MARK}")
    header = schema_header(snaplen, kprobes=[h.hook for h in hooks if h.mode == HookMode.KPROBE],
                           fentries=[h.hook for h in hooks if h.mode == HookMode.FENTRY])
    expr = flt.kernel_expr
    pcap = filter_header(expr, *compile_both(expr), flt.looks_inside) if expr else \
        filter_header(None, None, None, False)
    return CompileInputs(tuple(cflags), ((HEADER_NAME, header), (FILTER_HEADER, pcap)))


def compile_probes(  # type: ignore[no-untyped-def]
        flt: TraceFilter, macros: dict[str, int], snaplen: int, pages: int,
        hooks: Sequence[HookStatus], netns_filter: bool = False):
    """brtrace.c compiled for this kernel, filter and hook plan (a bcc.BPF)."""
    return compile_with(compile_inputs(flt, macros, snaplen, pages, hooks, netns_filter), macros)


def compile_with(inputs: CompileInputs, macros: dict[str, int]) -> Any:
    """brtrace.c compiled with ``inputs`` and its casts patched (a bcc.BPF)."""
    bcc = _import_bcc()
    # brt_schema.h and brt_filter.h live only while bcc compiles: it reads the includes then
    with tempfile.TemporaryDirectory(prefix="brt-cgen-") as gen:
        for name, text in inputs.headers:
            with open(os.path.join(gen, name), "w") as f:
                f.write(text)
        try:
            bpf = bcc.BPF(src_file=SOURCE.encode(), cflags=[*inputs.cflags, f"-I{gen}"])
        except Exception as exc:  # noqa: BLE001 -- bcc raises bare Exception on compile/load failure
            raise BrtraceError(f"could not compile/load the probes: {exc}; "
                               "run `brtrace doctor` to see what is missing") from None
    if "BRT_CAST_FN" in macros:
        patch_casts(bpf, macros["BRT_CAST_FN"])
    return bpf


# The tail-call slots _attach fills: (program array, slot, program). The skb
# tracepoints tail-call the shared packet parser (brtrace.c: tail_emit).
TAIL_CALLS = (("emit_prog", 0, "brt_emit"),)


def raw_tp_program(tracepoint: str) -> str:
    """The handler of a raw tracepoint in brtrace.c (hand-written or from a macro)."""
    return f"brt_tp_{tracepoint}"


class LiveSource:
    """Probes attached to the running kernel, read as batches of Events."""

    def __init__(self, flt: TraceFilter, topology: Topology, snaplen: int = DEFAULT_SNAPLEN,
                 command: str = "", ringbuf_pages: int = RINGBUF_PAGES,
                 all_hooks: bool = False, netns_inodes: Sequence[int] = (),
                 cast_reject: bool = True, compact: bool = True) -> None:
        """``cast_reject=False``: the probe-read reject path even where the kernel
        offers bpf_rdonly_cast; ``compact=False``: a whole event's record for
        every event, no hop, route or raw records (brtrace.c: BRT_FULL_RECORDS).
        Tests compare each pair on the same packets."""
        _require_root()
        self._netns = tuple(netns_inodes)  # empty: every namespace (brtrace agent --netns)
        self.load_path = ""  # how the probes got loaded: "cache", "compiled", "compiled in-process"
        if ringbuf_pages < 1 or ringbuf_pages & (ringbuf_pages - 1):
            raise BrtraceError("ring buffer pages must be a power of two", 2)
        self._pages = ringbuf_pages
        if snaplen % 8 or not 0 < snaplen <= 1024:
            raise BrtraceError("--snaplen must be a multiple of 8 between 8 and 1024", 2)
        if kernel.mount_tracefs() is None:
            raise BrtraceError("tracefs is not mounted and could not be: "
                               "mount -t tracefs tracefs /sys/kernel/tracing")
        flt = with_topology(flt, topology)  # VXLAN on a port the topology's devices use
        with signals_held():
            plan = load_plan()
            macros = plan.macros if cast_reject else without_casts(plan.macros)
            if not compact:
                macros = {**macros, "BRT_FULL_RECORDS": 1}
            self._hooks = choose_hooks(plan.hooks, all_hooks)
            self._closed = False
            self._bpf: Any  # a bcc.BPF, or the fds a loader child handed over (childload.py)
            flt = self._load_following_nat(flt, macros, snaplen)
        page = os.sysconf("SC_PAGE_SIZE")
        self._rings = {name: RingBuffer(self._bpf[name].map_fd, n * page, dtype)
                       for name, (n, dtype) in ring_layouts(self._pages, snaplen).items()}
        r = self._rings
        self._cpu_rings = CpuRingLayout.for_pages(self._pages).open(self._bpf)
        hops, raws, routes = self._cpu_rings
        self._drain = RingDrain(r[b"events"], spill=r[b"spill"], hops=hops, routes=routes, raws=raws)
        self._decoder = Decoder(plan.drop_reasons, kernel.symbolize)
        self._stats = SourceStats()
        self._lost_read_at = 0.0
        self._info = SourceInfo(live=True, topology=topology, hooks=tuple(self._hooks),
                                kernel=kernel.release(), filter=flt.describe(), command=command)

    def _load(self, flt: TraceFilter, macros: dict[str, int], snaplen: int) -> None:
        if childload.can_hand_over(self._hooks):  # LLVM never maps into this process
            if self._load_cached(compile_inputs(flt, macros, snaplen, self._pages, self._hooks,
                                                netns_filter=bool(self._netns)), flt.cfg_values()):
                return
            self._bpf, self._hooks = childload.load(flt, macros, snaplen, self._pages,
                                                    self._hooks, netns_inodes=self._netns)
            self.load_path = "compiled"  # in the child, which stored it for the next start
        else:
            self._bpf = compile_probes(flt, macros, snaplen, self._pages, self._hooks,
                                       netns_filter=bool(self._netns))
            self._set_cfg(flt)
            self._allow_netns()
            self._attach()
            self.load_path = "compiled in-process"

    def _load_cached(self, inputs: CompileInputs, cfg: bytes) -> bool:
        """From the compiled-program cache when this very compile is in it: no
        compile (~0.7 s) and no child; any failure compiles instead (logged)."""
        key = progcache.cache_key(inputs, progcache.attached(self._hooks))
        entry = progcache.lookup(key)
        if entry is None:
            return False
        try:
            self._bpf, self._hooks = cacheload.load_entry(entry, self._hooks, self._netns, cfg)
        except progcache.CacheError as exc:
            progcache.discard(key, str(exc))
            return False
        self.load_path = "cache"
        return True

    def _load_following_nat(self, flt: TraceFilter, macros: dict[str, int], snaplen: int) -> TraceFilter:
        """Load; where NAT following takes an expression past the verifier's budget
        (E2BIG: the expression, the IPv6 parser and the follow checks together,
        6.18), load it without following and say so, rather than not trace at all.
        Returns the filter the kernel runs."""
        try:
            self._load(flt, macros, snaplen)
            return flt
        except BrtraceError as exc:
            if not (flt.follows_nat and "Argument list too long" in str(exc)):
                raise
        print("brtrace: warning: this filter and NAT following together pass the verifier's budget "
              "(E2BIG): tracing without following matches through NAT", file=sys.stderr)
        flt = dataclasses.replace(flt, nat_follow=False)
        self._load(flt, macros, snaplen)
        return flt

    def _set_cfg(self, flt: TraceFilter) -> None:
        """The filter's load-time values (brtrace.c: struct brt_cfg), before any attach."""
        table = self._bpf[CFG_MAP.encode()]
        table[ctypes.c_int(0)] = table.Leaf.from_buffer_copy(flt.cfg_values())

    def _allow_netns(self) -> None:
        """The namespaces the kernel keeps events of (brtrace.c: FILTER_NETNS), before any attach."""
        if not self._netns:
            return
        table = self._bpf[b"netns_allow"]
        for inode in self._netns:
            table[ctypes.c_uint32(inode)] = ctypes.c_uint8(1)

    def _attach(self) -> None:
        # the shared parser the skb tracepoints tail-call (brtrace.c: tail_emit)
        bcc = _import_bcc()
        try:
            for table, slot, prog in TAIL_CALLS:
                fn = self._bpf.load_func(prog.encode(), bcc.BPF.RAW_TRACEPOINT)
                self._bpf[table.encode()][ctypes.c_int(slot)] = ctypes.c_int(fn.fd)
        except Exception as exc:  # noqa: BLE001 -- bcc raises bare Exception on load failure
            self._bpf.cleanup()
            raise BrtraceError(f"could not load the probes' packet parser: {exc}") from None
        done: list[HookStatus] = []
        for st in self._hooks:
            done.append(self._attach_one(st))
        self._hooks = done

    def _attach_one(self, st: HookStatus) -> HookStatus:
        try:
            fn = st.hook.function  # the handler's name in brtrace.c (hand-written or from a macro)
            if st.mode == HookMode.RAW_TRACEPOINT:
                self._bpf.attach_raw_tracepoint(tp=fn.encode(), fn_name=raw_tp_program(fn).encode())
            elif st.mode == HookMode.KPROBE:
                self._bpf.attach_kprobe(event=fn.encode(), fn_name=f"brt_kp_{fn}".encode())
        except Exception as exc:  # noqa: BLE001 -- one hook failing must not take the others down
            return HookStatus(st.hook, HookMode.OFF, f"attach failed: {exc}")
        return st

    # -- EventSource --------------------------------------------------------
    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def exhausted(self) -> bool:
        return self._closed

    def poll(self, timeout_ms: int = 100) -> Sequence[Event]:
        if self._closed:
            return []
        arr = self._drain.get(timeout_ms)
        now = time.monotonic()
        if now - self._lost_read_at > 0.2:
            self._read_lost()
            self._lost_read_at = now
        if arr is None:
            return []
        events = self._decoder.decode(arr["ev"])
        s = self._stats
        self._stats = SourceStats(s.events + len(events), s.lost, s.batches + 1)
        return events

    @property
    def read_to_ns(self) -> int:
        """How far the ring was read at the last poll (probes/drain.py: RingDrain.get)."""
        return self._drain.read_to_ns

    @property
    def spilled(self) -> int:
        """Events the main ring refused and the spill ring delivered (brtrace.c: reserve())."""
        return self._drain.spilled

    def kernel_counts(self) -> tuple[int, int]:
        """(produced, lost) as the kernel counted them: received + lost == produced."""
        produced = sum(int(v) for v in self._bpf[b"produced"][0])
        produced += sum(ring.produced() for ring in self._cpu_rings)  # counted by their heads
        return produced, sum(int(v) for v in self._bpf[b"lost"][0])

    def _read_lost(self) -> None:
        # a hop whose base record never came cannot be an event: lost too
        total = sum(int(v) for v in self._bpf[b"lost"][0]) + self._drain.hops.orphans
        s = self._stats
        self._stats = SourceStats(s.events, total, s.batches)

    def stats(self) -> SourceStats:
        if not self._closed:
            self._read_lost()
        return self._stats

    def close(self) -> None:
        """Detach every probe (bcc's cleanup closes program and link fds)."""
        if self._closed:
            return
        self._closed = True
        self._drain.close()
        for ring in self._rings.values():
            ring.close()
        for cpu_ring in self._cpu_rings:
            cpu_ring.close()
        self._bpf.cleanup()
