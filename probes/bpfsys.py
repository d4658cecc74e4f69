"""The bare bpf(2) calls brtrace needs outside bcc: proving fentry works, that
raw tracepoint programs may read the skb through bpf_rdonly_cast, and loading
the probes from the compiled-program cache (probes/progcache.py) with no bcc.

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


# -- maps and programs from a compiled-program cache (probes/progcache.py) -------
# uapi union bpf_attr / bpf_map_info / bpf_prog_info layouts, read in 6.18.
BPF_MAP_CREATE = 0
BPF_MAP_UPDATE_ELEM = 2
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_OBJ_NAME_LEN = 16
_MAP_INFO_SIZE = 88  # through map_extra: what a map is made of
_PROG_INFO_SIZE = 8  # type and id: all a cached program needs of it


class BpfError(OSError):
    """A bpf(2) command refused, with the command's name in the message."""


def _check(rc: int, err: int, what: str) -> int:
    if rc < 0:
        raise BpfError(err, f"{what}: {os.strerror(err)}")
    return rc


def obj_info(fd: int, size: int) -> bytes:
    """The kernel's info struct of a map or program fd (its first ``size`` bytes)."""
    info = ctypes.create_string_buffer(size)
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("<IIQ", attr, 0, fd, size, ctypes.addressof(info))
    _check(*bpf_call(BPF_OBJ_GET_INFO_BY_FD, attr), "BPF_OBJ_GET_INFO_BY_FD")
    return info.raw


@dataclass(frozen=True)
class MapDef:
    """What BPF_MAP_CREATE needs to make a map again as the kernel reports it
    (bpf_map_info): BTF ids are left out, the programs never need them."""

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    extra: int = 0


def map_def(fd: int) -> MapDef:
    raw = obj_info(fd, _MAP_INFO_SIZE)
    typ, _id, ks, vs, me, fl = struct.unpack_from("<6I", raw)
    name = raw[24:40].split(b"\0", 1)[0].decode()
    (extra,) = struct.unpack_from("<Q", raw, 80)
    return MapDef(name, typ, ks, vs, me, fl, extra)


def prog_type(fd: int) -> int:
    return int(struct.unpack_from("<I", obj_info(fd, _PROG_INFO_SIZE))[0])


def map_create(m: MapDef) -> int:
    attr = ctypes.create_string_buffer(72)
    struct.pack_into("<5I", attr, 0, m.type, m.key_size, m.value_size, m.max_entries, m.flags)
    struct.pack_into("16s", attr, 28, m.name.encode()[:BPF_OBJ_NAME_LEN - 1])
    struct.pack_into("<Q", attr, 64, m.extra)
    return _check(*bpf_call(BPF_MAP_CREATE, attr), f"creating map {m.name}")


def map_update(fd: int, key: bytes, value: bytes) -> None:
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value, len(value))
    attr = ctypes.create_string_buffer(32)
    struct.pack_into("<IIQQQ", attr, 0, fd, 0, ctypes.addressof(k), ctypes.addressof(v), 0)
    _check(*bpf_call(BPF_MAP_UPDATE_ELEM, attr), "BPF_MAP_UPDATE_ELEM")


def prog_load(name: str, ptype: int, insns: bytes, license: str) -> int:
    """Load a program as bcc does (bcc_func_load: no BTF, no log on success)."""
    buf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQ", attr, 0, ptype, len(insns) // 8, ctypes.addressof(buf), ctypes.addressof(lic))
    struct.pack_into("16s", attr, 48, name.encode()[:BPF_OBJ_NAME_LEN - 1])
    return _check(*bpf_call(BPF_PROG_LOAD, attr), f"loading {name}")


def raw_tracepoint_open(tp: str, prog_fd: int) -> int:
    """Attach a raw tracepoint program; the returned link fd keeps it attached."""
    name = ctypes.create_string_buffer(tp.encode())
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("<QI", attr, 0, ctypes.addressof(name), prog_fd)
    return _check(*bpf_call(BPF_RAW_TRACEPOINT_OPEN, attr), f"attaching {tp}")
