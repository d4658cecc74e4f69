"""The bare bpf(2) calls brtrace needs outside bcc: proving fentry works.

bcc would report a refused fentry only as a failed compile-and-load of the
whole program; a two-instruction program loaded here answers per function in
microseconds. Layouts of ``union bpf_attr`` are uapi (stable), read in 6.18.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from dataclasses import dataclass

SYS_BPF = 321  # x86_64
BPF_PROG_LOAD = 5
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_PROG_TYPE_TRACING = 26
BPF_TRACE_FENTRY = 24
_INSNS = bytes.fromhex("b700000000000000" "9500000000000000")  # r0 = 0; exit

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass(frozen=True)
class Result:
    ok: bool
    detail: str


def bpf_call(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> tuple[int, int]:
    """bpf(2) with attr; (return value, errno). Shared with bench/progstats.py."""
    rc = _libc.syscall(SYS_BPF, cmd, attr, len(attr))
    return rc, ctypes.get_errno()


def try_fentry(func_btf_id: int) -> Result:
    if not func_btf_id:
        return Result(False, "function not in BTF")
    insns = ctypes.create_string_buffer(_INSNS, len(_INSNS))
    lic = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQ", attr, 0, BPF_PROG_TYPE_TRACING, 2,
                     ctypes.addressof(insns), ctypes.addressof(lic))
    struct.pack_into("<I", attr, 68, BPF_TRACE_FENTRY)
    struct.pack_into("<I", attr, 108, func_btf_id)
    fd, err = bpf_call(BPF_PROG_LOAD, attr)
    if fd < 0:
        return Result(False, f"program load refused: {os.strerror(err)}")
    try:
        link_attr = ctypes.create_string_buffer(16)
        struct.pack_into("<QI", link_attr, 0, 0, fd)
        lfd, err = bpf_call(BPF_RAW_TRACEPOINT_OPEN, link_attr)
        if lfd < 0:
            return Result(False, f"attach refused: {os.strerror(err)}")
        os.close(lfd)
        return Result(True, "loaded and attached")
    finally:
        os.close(fd)
