"""The hook plan: what the probes need from this boot of the kernel, and its cache.

Split from ``probes/loader.py`` (issue 19) because none of it needs bcc: BTF
offsets, which hooks can attach and how (chosen one by one, see
:func:`plan_hooks`: tracepoints as raw tracepoints where they exist, function
hooks as kprobes where the kernel has kprobes, else fentry where a real load
proves it works, else off), whether cast_reject may use bpf_rdonly_cast, and
the drop reason names, kept per boot in PLAN_CACHE_DIR. ``brtrace doctor`` and
the agent read the plan without loading bcc; the loader compiles from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from probes import kernel
from probes.btf import BTF, BTFError
from probes.offsets import MEMBERS, drop_reason_names, offset_macros
from tracer.errors import BrtraceError
from tracer.model import Hook, HookMode, HookStatus

PLAN_CACHE_DIR = "/run/brtrace"
PLANS_KEPT = 4  # plans of other keys (another tree, a module since unloaded) kept beside this one


@contextmanager
def signals_held() -> Iterator[None]:
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
    with signals_held():  # its test loads are verified too (see signals_held)
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


# cast_reject's bpf_rdonly_cast (probes/loader.py: CAST_MARK, patch_casts) reads a
# byte-array struct of this size past the IP header.
CAST_BYTES = 128  # the byte-array struct covers the 78 bytes cast_reject reads past the IP header


CAST_MACROS = ("BRT_CAST_FN", "BRT_SKB_BTF", "BRT_BYTES_BTF", "BRT_CAST_VOID")


def cast_macros(btf: BTF, head_off: int) -> dict[str, int]:
    """-D values for cast_reject when this kernel lets a raw tracepoint program use it."""
    cast, skb = btf.func_id("bpf_rdonly_cast"), btf.struct_id("sk_buff")
    raw = btf.byte_array_struct(CAST_BYTES)
    if not kernel.try_rdonly_cast(cast, skb, head_off, raw).ok:
        return {}
    out = {"BRT_CAST_FN": cast, "BRT_SKB_BTF": skb, "BRT_BYTES_BTF": raw}
    if kernel.try_rdonly_cast_void(cast, skb, head_off).ok:
        out["BRT_CAST_VOID"] = 1
    return out


def without_casts(macros: dict[str, int]) -> dict[str, int]:
    """The plan's macros with cast_reject off (the probe-read path decides alone)."""
    return {k: v for k, v in macros.items() if k not in CAST_MACROS}


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
    wanted.append(f"rdonly_cast={CAST_BYTES},void")
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


def _prune_plans(d: str, keep: int) -> None:
    """Leave the ``keep`` newest plans. Not only the newest one: two brtrace trees
    (or versions) on one machine ask with different keys, and each start of the
    one then missed and cost the other its plan (~0.4 s): in the bench's
    interleaved before/after rounds, every start. A reboot empties /run anyway."""
    plans = []
    for name in os.listdir(d):
        if name.startswith("plan-"):
            try:
                plans.append((os.stat(os.path.join(d, name)).st_mtime, name))
            except OSError:  # another start pruned it first
                pass
    for _, name in sorted(plans, reverse=True)[keep:]:
        try:
            os.unlink(os.path.join(d, name))
        except OSError:
            pass


def _save_plan(path: str, plan: Plan) -> None:
    try:
        os.makedirs(PLAN_CACHE_DIR, mode=0o700, exist_ok=True)
        _prune_plans(PLAN_CACHE_DIR, PLANS_KEPT - 1)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump({"macros": plan.macros,
                       "hooks": [(int(h.hook), h.mode, h.detail) for h in plan.hooks],
                       "drop_reasons": plan.drop_reasons}, f)
        os.rename(tmp, path)
    except OSError:
        pass  # a cache, never a reason to fail
