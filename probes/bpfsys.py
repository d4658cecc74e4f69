"""The bare bpf(2) calls brtrace needs outside bcc: proving fentry works, and
that raw tracepoint programs may read the skb through bpf_rdonly_cast.

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


BPF_PROG_TYPE_RAW_TRACEPOINT = 17
BPF_PSEUDO_KFUNC_CALL = 2


def kfunc_call(func_btf_id: int, dst: int = 0) -> bytes:
    """One call instruction of a kernel function (kfunc) by its vmlinux BTF id."""
    return struct.pack("<BBhi", 0x85, (BPF_PSEUDO_KFUNC_CALL << 4) | dst, 0, func_btf_id)


def try_rdonly_cast(cast_id: int, skb_id: int, head_off: int, bytes_id: int) -> Result:
    """Whether a raw tracepoint program may call bpf_rdonly_cast and load through
    what it returns: the skb's head pointer, then two bytes of the buffer.

    That is what the probes' reject path does (brtrace.c: cast_reject); a
    kernel without it (before 6.2, or kfuncs not offered to raw tracepoints)
    keeps the probe-read path."""
    if not (cast_id and skb_id and bytes_id):
        return Result(False, "bpf_rdonly_cast or a type not in BTF")
    insns = b"".join([
        struct.pack("<BBhi", 0x79, 0x11, 0, 0),         # r1 = ctx->args[0] (the skb)
        struct.pack("<BBhi", 0xB7, 0x02, 0, skb_id),    # r2 = BTF id of struct sk_buff
        kfunc_call(cast_id),                            # r0 = bpf_rdonly_cast(r1, r2)
        struct.pack("<BBhi", 0x79, 0x01, head_off, 0),  # r1 = r0->head
        struct.pack("<BBhi", 0xB7, 0x02, 0, bytes_id),  # r2 = BTF id of the byte array
        kfunc_call(cast_id),                            # r0 = bpf_rdonly_cast(r1, r2)
        struct.pack("<BBhi", 0x69, 0x00, 12, 0),        # r0 = *(u16 *)(r0 + 12)
        _INSNS,                                         # r0 = 0; exit
    ])
    return _load_raw_tp(insns)


def try_rdonly_cast_void(cast_id: int, skb_id: int, head_off: int) -> Result:
    """Whether bpf_rdonly_cast(p, 0) gives untyped read-only memory that may be
    read at a variable offset (BPF_FEAT_RDONLY_CAST_TO_VOID, 6.16+).

    A pcap expression reads the packet at offsets it computes (the IPv4
    header's length), which a pointer to a typed byte array refuses; the
    untyped pointer lets the expression and the parsers read the packet in
    place instead of copying it out with bpf_probe_read_kernel."""
    if not (cast_id and skb_id):
        return Result(False, "bpf_rdonly_cast or struct sk_buff not in BTF")
    insns = b"".join([
        struct.pack("<BBhi", 0x79, 0x11, 0, 0),          # r1 = ctx->args[0] (the skb)
        struct.pack("<BBhi", 0xB7, 0x02, 0, skb_id),     # r2 = BTF id of struct sk_buff
        kfunc_call(cast_id),                             # r0 = bpf_rdonly_cast(r1, r2)
        struct.pack("<BBhi", 0x79, 0x01, head_off, 0),   # r1 = r0->head
        struct.pack("<BBhi", 0xB7, 0x02, 0, 0),          # r2 = 0: untyped
        kfunc_call(cast_id),                             # r0 = bpf_rdonly_cast(r1, 0)
        struct.pack("<BBhi", 0x71, 0x01, 0, 0),          # r1 = *(u8 *)(r0 + 0): an unknown scalar
        struct.pack("<BBhi", 0x0F, 0x10, 0, 0),          # r0 += r1 (a variable offset)
        struct.pack("<BBhi", 0x71, 0x00, 12, 0),         # r0 = *(u8 *)(r0 + 12)
        _INSNS,                                          # r0 = 0; exit
    ])
    return _load_raw_tp(insns)


def _load_raw_tp(insns: bytes) -> Result:
    """Load (and at once unload) a raw tracepoint program: the verifier's answer."""
    buf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQ", attr, 0, BPF_PROG_TYPE_RAW_TRACEPOINT, len(insns) // 8,
                     ctypes.addressof(buf), ctypes.addressof(lic))
    fd, err = bpf_call(BPF_PROG_LOAD, attr)
    if fd < 0:
        return Result(False, f"program load refused: {os.strerror(err)}")
    os.close(fd)
    return Result(True, "loaded")
