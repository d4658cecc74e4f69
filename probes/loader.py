"""The live EventSource: compile the C program, attach every hook, poll batches.

The only module that loads probes through bcc (``tracer/cli/doctor_cmd.py``
imports bcc too, only to report whether it imports). Hooks come from the hook
table (``tracer/schema/hooks.py``) and are chosen one by one (see
:func:`plan_hooks`): tracepoints as raw tracepoints where they exist, function
hooks as kprobes where the kernel has kprobes, else fentry where a real load
proves it works, else off — and the choice is reported, never hidden.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import struct
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from probes import childload, kernel
from probes.bpfsys import kfunc_call
from probes.btf import BTF, BTFError
from probes.cgen import HEADER_NAME, schema_header
from probes.drain import RingDrain
from probes.offsets import MEMBERS, drop_reason_names, offset_macros
from probes.pcap import compile_both
from probes.ringbuf import RingBuffer
from tracer.errors import BrtraceError, NeedRoot
from tracer.filter import TraceFilter, with_topology
from tracer.model import Event, Hook, HookMode, HookStatus, SourceStats
from tracer.pcapf.translate import HEADER_NAME as FILTER_HEADER
from tracer.pcapf.translate import filter_header
from tracer.schema.decode import Decoder
from tracer.schema.event import DEFAULT_SNAPLEN, record_dtype
from tracer.source import SourceInfo
from tracer.topology.model import Topology

PROBE_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(PROBE_DIR, "brtrace.c")
PLAN_CACHE_DIR = "/run/brtrace"
RINGBUF_PAGES = 2048  # 8 MiB: ~27k events of 296 bytes between two polls


def spill_pages(pages: int) -> int:
    """The spill ring's size (brtrace.c: reserve()): 1/32 of the main ring.

    It takes the rare event the main ring's lock refuses (~1 in 10^4 at a
    flood) and a full main ring's overflow; a user who asks for a tiny ring
    gets a tiny spill ring too.
    """
    return max(1, pages // 32)


# Tracepoints that fire at the same crossing as another one on the usual path
# (veth, bridge, VXLAN devices have no qdisc): net_dev_start_xmit right after
# net_dev_queue, netif_rx (backlog enqueue) right before netif_receive_skb.
# Each attached hook costs every packet of the machine ~50 ns of dispatch here
# even when the filter rejects it (bench/RESULTS.md), so they attach only on
# request (--all-hooks): for qdisc delay, or a backlog drop between the two.
SAME_CROSSING: dict[Hook, str] = {
    Hook.NET_DEV_START_XMIT: "net_dev_queue marks the same crossing",
    Hook.NETIF_RX: "netif_receive_skb marks the same crossing",
}


def choose_hooks(plan: Sequence[HookStatus], all_hooks: bool) -> list[HookStatus]:
    """The plan with the same-crossing tracepoints off unless every hook was asked for."""
    if all_hooks:
        return list(plan)
    return [HookStatus(h.hook, HookMode.OFF, f"not attached by default ({SAME_CROSSING[h.hook]}; "
                       "--all-hooks attaches it)")
            if h.hook in SAME_CROSSING and h.live else h for h in plan]


def plan_hooks(btf: BTF) -> list[HookStatus]:
    """How each hook can attach on this kernel, tested where testable."""
    plan: list[HookStatus] = []
    for hook in [h for h in Hook if h.is_tracepoint]:  # the hook table's order
        cat, name = hook.target.split(":")
        if kernel.tracepoint_exists(cat, name):
            plan.append(HookStatus(hook, HookMode.RAW_TRACEPOINT, hook.target))
        else:
            plan.append(HookStatus(hook, HookMode.OFF, f"tracepoint {hook.target} not in this kernel"))
    kprobes = kernel.has_kprobes()
    with _signals_held():  # its test loads are verified too (see _signals_held)
        for hook in [h for h in Hook if not h.is_tracepoint]:
            plan.append(_plan_function(btf, hook, hook.function, kprobes))
    return plan


def _plan_function(btf: BTF, hook: Hook, fn: str, kprobes: bool) -> HookStatus:
    if not kernel.function_exists(fn):
        return HookStatus(hook, HookMode.OFF, f"{fn} not in kallsyms (inlined or not built)")
    if kprobes:
        return HookStatus(hook, HookMode.KPROBE, fn)
    probe = kernel.try_fentry(btf.func_id(fn))
    if probe.ok:
        return HookStatus(hook, HookMode.FENTRY, fn)
    return HookStatus(hook, HookMode.OFF, f"no kprobes (CONFIG_KPROBES off); fentry: {probe.detail}")


# The reject path reads the skb and its headers with plain loads through
# bpf_rdonly_cast (brtrace.c: cast_reject) instead of two bpf_probe_read_kernel
# calls, which were two thirds of what a rejected packet cost each hook (bench
# probecost, 6.18). bcc's LLVM cannot emit a kfunc call, so the C program calls
# a helper id no kernel has (CAST_MARK) and patch_casts turns exactly those
# calls into kfunc calls of bpf_rdonly_cast before anything is loaded; an
# unpatched call would be refused by the verifier, never run.
CAST_MARK = 0x7FF0
CAST_BYTES = 128  # the byte-array struct covers the 78 bytes cast_reject reads past the IP header


def cast_macros(btf: BTF, head_off: int) -> dict[str, int]:
    """-D values for cast_reject when this kernel lets a raw tracepoint program use it."""
    cast, skb = btf.func_id("bpf_rdonly_cast"), btf.struct_id("sk_buff")
    raw = btf.byte_array_struct(CAST_BYTES)
    if not kernel.try_rdonly_cast(cast, skb, head_off, raw).ok:
        return {}
    return {"BRT_CAST_FN": cast, "BRT_SKB_BTF": skb, "BRT_BYTES_BTF": raw}


def without_casts(macros: dict[str, int]) -> dict[str, int]:
    """The plan's macros with cast_reject off (the probe-read path decides alone)."""
    return {k: v for k, v in macros.items() if k not in ("BRT_CAST_FN", "BRT_SKB_BTF", "BRT_BYTES_BTF")}


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


@dataclass(frozen=True)
class Plan:
    """What the probes need from this boot of the kernel: BTF offsets, how each
    hook attaches, drop reason names."""

    macros: dict[str, int]
    hooks: tuple[HookStatus, ...]
    drop_reasons: dict[int, str]


def _plan_key() -> str:
    """Same boot, same loaded modules (a module adds tracepoints and functions), and
    the same struct members and hooks asked for."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        return ""
    try:
        with open("/proc/modules") as f:
            mods = sorted(line.split(" ", 1)[0] for line in f)
    except OSError:  # CONFIG_MODULES off: everything is built in
        mods = []
    # and what the plan is made of here: another brtrace (a new member, a new hook) asks anew
    wanted = [f"{m}={st}.{p}" for m, (st, p) in sorted(MEMBERS.items())] + [h.target for h in Hook]
    wanted.append(f"rdonly_cast={CAST_BYTES}")
    h = hashlib.sha256("\n".join([boot, kernel.release(), *mods, *wanted]).encode()).hexdigest()
    return h[:32]


def load_plan() -> Plan:
    """The plan for this boot, from the cache in PLAN_CACHE_DIR when it is there.

    Reading BTF and testing every hook costs ~0.4 s, a third of startup; the
    answers only change with a reboot or a module (un)load, both in the key.
    /run is tmpfs, so a reboot clears the cache anyway.
    """
    key = _plan_key()
    path = os.path.join(PLAN_CACHE_DIR, f"plan-{key}.json") if key else ""
    if path:
        try:
            with open(path) as f:
                d = json.load(f)
            return Plan({k: int(v) for k, v in d["macros"].items()},
                        tuple(HookStatus(Hook(h), HookMode(m), det) for h, m, det in d["hooks"]),
                        {int(k): str(v) for k, v in d["drop_reasons"].items()})
        except (OSError, ValueError, KeyError, TypeError):
            pass
    try:
        btf = BTF.load()
        macros = offset_macros(btf)
        macros.update(cast_macros(btf, macros["OFF_SKB_HEAD"]))
    except BTFError as exc:
        raise BrtraceError(f"kernel BTF unusable ({exc}); brtrace needs CONFIG_DEBUG_INFO_BTF") from None
    plan = Plan(macros, tuple(plan_hooks(btf)), drop_reason_names(btf))
    if path:
        _save_plan(path, plan)
    return plan


def _save_plan(path: str, plan: Plan) -> None:
    try:
        os.makedirs(PLAN_CACHE_DIR, mode=0o700, exist_ok=True)
        for old in os.listdir(PLAN_CACHE_DIR):  # one boot's worth at a time
            if old.startswith("plan-"):
                os.unlink(os.path.join(PLAN_CACHE_DIR, old))
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump({"macros": plan.macros,
                       "hooks": [(int(h.hook), h.mode, h.detail) for h in plan.hooks],
                       "drop_reasons": plan.drop_reasons}, f)
        os.rename(tmp, path)
    except OSError:
        pass  # a cache, never a reason to fail


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


@contextmanager
def _signals_held() -> Iterator[None]:
    """Signals to this thread wait until the probes are loaded.

    The verifier gives up with EAGAIN when a signal is pending for the loading
    thread (kernel/bpf/verifier.c: do_check, read in 6.18): a terminal resize
    or a child exiting during start-up failed the load or turned a hook off.
    Held signals arrive right after (Ctrl-C included: start-up takes < 1 s).
    """
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


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


def compile_probes(  # type: ignore[no-untyped-def]
        flt: TraceFilter, macros: dict[str, int], snaplen: int, pages: int,
        hooks: Sequence[HookStatus], netns_filter: bool = False):
    """brtrace.c compiled for this kernel, filter and hook plan (a bcc.BPF).

    ``netns_filter``: keep only the namespaces put in netns_allow (brtrace.c: FILTER_NETNS).
    """
    bcc = _import_bcc()
    cflags = [f"-D{k}={v}" for k, v in macros.items()]
    cflags += read_windows(macros)
    cflags += flt.cflags() + [f"-DBRT_SNAPLEN={snaplen}", f"-DRINGBUF_PAGES={pages}",
                              f"-DSPILL_PAGES={spill_pages(pages)}",
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
    # brt_schema.h and brt_filter.h live only while bcc compiles: it reads the includes then
    with tempfile.TemporaryDirectory(prefix="brt-cgen-") as gen:
        for name, text in ((HEADER_NAME, header), (FILTER_HEADER, pcap)):
            with open(os.path.join(gen, name), "w") as f:
                f.write(text)
        try:
            bpf = bcc.BPF(src_file=SOURCE.encode(), cflags=[*cflags, f"-I{gen}"])
        except Exception as exc:  # noqa: BLE001 -- bcc raises bare Exception on compile/load failure
            raise BrtraceError(f"could not compile/load the probes: {exc}; "
                               "run `brtrace doctor` to see what is missing") from None
    if "BRT_CAST_FN" in macros:
        patch_casts(bpf, macros["BRT_CAST_FN"])
    return bpf


class LiveSource:
    """Probes attached to the running kernel, read as batches of Events."""

    def __init__(self, flt: TraceFilter, topology: Topology, snaplen: int = DEFAULT_SNAPLEN,
                 command: str = "", ringbuf_pages: int = RINGBUF_PAGES,
                 all_hooks: bool = False, netns_inodes: Sequence[int] = (),
                 cast_reject: bool = True) -> None:
        """``cast_reject=False``: the probe-read reject path even where the kernel
        offers bpf_rdonly_cast (tests compare the two on the same packets)."""
        _require_root()
        self._netns = tuple(netns_inodes)  # empty: every namespace (brtrace agent --netns)
        if ringbuf_pages < 1 or ringbuf_pages & (ringbuf_pages - 1):
            raise BrtraceError("ring buffer pages must be a power of two", 2)
        self._pages = ringbuf_pages
        if snaplen % 8 or not 0 < snaplen <= 1024:
            raise BrtraceError("--snaplen must be a multiple of 8 between 8 and 1024", 2)
        if kernel.mount_tracefs() is None:
            raise BrtraceError("tracefs is not mounted and could not be: "
                               "mount -t tracefs tracefs /sys/kernel/tracing")
        flt = with_topology(flt, topology)  # VXLAN on a port the topology's devices use
        with _signals_held():
            plan = load_plan()
            macros = plan.macros if cast_reject else without_casts(plan.macros)
            self._hooks = choose_hooks(plan.hooks, all_hooks)
            self._closed = False
            self._bpf: Any  # a bcc.BPF, or the fds a loader child handed over (childload.py)
            if childload.can_hand_over(self._hooks):  # LLVM never maps into this process
                self._bpf, self._hooks = childload.load(flt, macros, snaplen, self._pages,
                                                        self._hooks, netns_inodes=self._netns)
            else:
                self._bpf = compile_probes(flt, macros, snaplen, self._pages, self._hooks,
                                           netns_filter=bool(self._netns))
                self._allow_netns()
                self._attach()
        rb = self._bpf[b"events"]
        page = os.sysconf("SC_PAGE_SIZE")
        self._ring = RingBuffer(rb.map_fd, self._pages * page, record_dtype(snaplen))
        self._spill = RingBuffer(self._bpf[b"spill"].map_fd, spill_pages(self._pages) * page,
                                 record_dtype(snaplen))
        self._drain = RingDrain(self._ring, spill=self._spill)
        self._decoder = Decoder(plan.drop_reasons, kernel.symbolize)
        self._stats = SourceStats()
        self._lost_read_at = 0.0
        self._info = SourceInfo(live=True, topology=topology, hooks=tuple(self._hooks),
                                kernel=kernel.release(), filter=flt.describe(), command=command)

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
            fn = self._bpf.load_func(b"brt_emit", bcc.BPF.RAW_TRACEPOINT)
            self._bpf[b"emit_prog"][ctypes.c_int(0)] = ctypes.c_int(fn.fd)
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
                self._bpf.attach_raw_tracepoint(tp=fn.encode(), fn_name=f"brt_tp_{fn}".encode())
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
    def spilled(self) -> int:
        """Events the main ring refused and the spill ring delivered (brtrace.c: reserve())."""
        return self._drain.spilled

    def kernel_counts(self) -> tuple[int, int]:
        """(produced, lost) as the kernel counted them: received + lost == produced."""
        produced = sum(int(v) for v in self._bpf[b"produced"][0])
        return produced, sum(int(v) for v in self._bpf[b"lost"][0])

    def _read_lost(self) -> None:
        total = sum(int(v) for v in self._bpf[b"lost"][0])
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
        self._ring.close()
        self._spill.close()
        self._bpf.cleanup()
