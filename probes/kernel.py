"""Facts about the running kernel that decide how brtrace can hook it.

Each answer is tested where a test is possible (fentry is tried with a real
program load and attach), never guessed from a version number.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import os
import platform
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from probes.bpfsys import Result

TRACEFS_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
BTF_PATH = "/sys/kernel/btf/vmlinux"


def release() -> str:
    return platform.release()


def tracefs_path() -> str | None:
    for p in TRACEFS_CANDIDATES:
        if os.path.exists(os.path.join(p, "events")):
            return p
    return None


def mount_tracefs() -> str | None:
    """Mount tracefs where the kernel expects it, if it is not (bcc needs it)."""
    path = tracefs_path()
    if path:
        return path
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mount(b"tracefs", b"/sys/kernel/tracing", b"tracefs", 0, None)
    return tracefs_path()


def has_kprobes() -> bool:
    """CONFIG_KPROBES: the kprobe PMU or tracefs' kprobe_events exists."""
    if os.path.exists("/sys/bus/event_source/devices/kprobe"):
        return True
    tf = tracefs_path()
    return bool(tf and os.path.exists(os.path.join(tf, "kprobe_events")))


def tracepoint_exists(category: str, name: str) -> bool:
    tf = tracefs_path()
    return bool(tf and os.path.isdir(os.path.join(tf, "events", category, name)))


@lru_cache(maxsize=1)
def _kallsyms() -> tuple[list[int], list[str]]:
    addrs: list[int] = []
    names: list[str] = []
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1] in "tTwW":
                    addrs.append(int(parts[0], 16))
                    names.append(parts[2])
    except OSError:
        return [], []
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def load_symbols() -> None:
    """Read /proc/kallsyms now (~130 ms), for a long-lived process such as an agent.

    Otherwise the first drop location of a stream reads it in the poll that
    carries it: that batch waited, and the first ping of a cluster trace
    reached the client 140 ms late instead of ~20 ms. A thread started with
    each stream made it worse (it held the GIL just as the first events came).
    """
    _kallsyms()


def symbolize(addr: int) -> str:
    """``sym+0xoff`` for a kernel text address (drop locations)."""
    if not addr:
        return ""
    addrs, names = _kallsyms()
    i = bisect.bisect_right(addrs, addr) - 1
    if i < 0 or addrs[i] == 0:
        return hex(addr)
    return f"{names[i]}+{addr - addrs[i]:#x}"


def function_exists(name: str) -> bool:
    """Whether a kernel function is in kallsyms (not inlined away)."""
    _, names = _kallsyms()
    return name in set(names)


def try_fentry(func_btf_id: int) -> Result:
    """Load and attach a two-instruction fentry program on a function.

    The only honest way to know: some kernels (like the one this was built
    on) refuse BPF_PROG_TYPE_TRACING with EPERM even as root.
    """
    from probes import bpfsys

    return bpfsys.try_fentry(func_btf_id)


def try_rdonly_cast(cast_id: int, skb_id: int, head_off: int, bytes_id: int) -> Result:
    """Whether raw tracepoint programs may read the skb by bpf_rdonly_cast (plain loads)."""
    from probes import bpfsys

    return bpfsys.try_rdonly_cast(cast_id, skb_id, head_off, bytes_id)


def try_rdonly_cast_void(cast_id: int, skb_id: int, head_off: int) -> Result:
    """Whether bpf_rdonly_cast(p, 0) reads untyped memory at variable offsets."""
    from probes import bpfsys

    return bpfsys.try_rdonly_cast_void(cast_id, skb_id, head_off)
