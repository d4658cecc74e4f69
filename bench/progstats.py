"""Run time and run count of loaded BPF programs, as the kernel's bpf_stats keeps them.

The probe-cost figures need what each brtrace program costs per run, apart
from the throughput noise of a shared machine. With kernel.bpf_stats_enabled
the kernel times every run (adding a clock read on each side, which the empty
program's figure shows). Read with bare bpf(2) calls so the bench needs no
bpftool (probes/bpfsys.py's wrapper); ``struct bpf_prog_info`` is uapi (include/uapi/linux/bpf.h, read in
6.18): name at 64, run_time_ns at 192, run_cnt at 200, recursion_misses at 208.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from probes.bpfsys import bpf_call

BPF_PROG_GET_NEXT_ID = 11
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15
INFO_SIZE = 224
STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"

@dataclass(frozen=True)
class ProgStats:
    prog_id: int
    name: str  # truncated to 15 characters by the kernel
    run_time_ns: int
    run_cnt: int
    # runs the kernel skipped because the program was already running on that
    # CPU (bpf_prog_inc_misses_counter, kernel/bpf/syscall.c, read in 6.18):
    # a packet crossing the hook then was not seen, and no ring counts it
    misses: int = 0


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    return bpf_call(cmd, attr)[0]


def _ids() -> Iterator[int]:
    attr = ctypes.create_string_buffer(16)
    cur = 0
    while True:
        struct.pack_into("<II", attr, 0, cur, 0)
        if _bpf(BPF_PROG_GET_NEXT_ID, attr) < 0:
            return
        cur = struct.unpack_from("<I", attr, 4)[0]
        yield cur


def _info(prog_id: int) -> ProgStats | None:
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("<I", attr, 0, prog_id)
    fd = _bpf(BPF_PROG_GET_FD_BY_ID, attr)
    if fd < 0:  # unloaded meanwhile
        return None
    try:
        info = ctypes.create_string_buffer(INFO_SIZE)
        q = ctypes.create_string_buffer(16)
        struct.pack_into("<IIQ", q, 0, fd, INFO_SIZE, ctypes.addressof(info))
        if _bpf(BPF_OBJ_GET_INFO_BY_FD, q) < 0:
            return None
        name = info.raw[64:80].split(b"\0", 1)[0].decode(errors="replace")
        run_time, run_cnt, misses = struct.unpack_from("<QQQ", info, 192)
        return ProgStats(prog_id, name, run_time, run_cnt, misses)
    finally:
        os.close(fd)


def programs(prefix: str = "brt_") -> list[ProgStats]:
    """Every loaded program whose name starts with prefix."""
    out = []
    for pid in _ids():
        st = _info(pid)
        if st is not None and st.name.startswith(prefix):
            out.append(st)
    return out


@contextlib.contextmanager
def stats_enabled() -> Iterator[None]:
    """kernel.bpf_stats_enabled on for the block, then back to what it was."""
    with open(STATS_SYSCTL) as f:
        old = f.read().strip()
    with open(STATS_SYSCTL, "w") as f:
        f.write("1")
    try:
        yield
    finally:
        with open(STATS_SYSCTL, "w") as f:
            f.write(old)
