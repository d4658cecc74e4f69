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


def _cast_head(cast_id: int, skb_id: int, head_off: int, to_id: int) -> bytes:
    """r0 = bpf_rdonly_cast(skb->head, to_id), the skb itself cast as struct sk_buff."""
    return b"".join([
        struct.pack("<BBhi", 0x79, 0x11, 0, 0),         # r1 = ctx->args[0] (the skb)
        struct.pack("<BBhi", 0xB7, 0x02, 0, skb_id),    # r2 = BTF id of struct sk_buff
        kfunc_call(cast_id),                            # r0 = bpf_rdonly_cast(r1, r2)
        struct.pack("<BBhi", 0x79, 0x01, head_off, 0),  # r1 = r0->head
        struct.pack("<BBhi", 0xB7, 0x02, 0, to_id),     # r2 = BTF id to cast to (0: untyped)
        kfunc_call(cast_id),                            # r0 = bpf_rdonly_cast(r1, r2)
    ])


def try_rdonly_cast(cast_id: int, skb_id: int, head_off: int, bytes_id: int) -> Result:
    """Whether a raw tracepoint program may call bpf_rdonly_cast and load through
    what it returns: the skb's head pointer, then two bytes of the buffer.

    That is what the probes' reject path does (brtrace.c: cast_reject); a
    kernel without it (before 6.2, or kfuncs not offered to raw tracepoints)
    keeps the probe-read path."""
    if not (cast_id and skb_id and bytes_id):
        return Result(False, "bpf_rdonly_cast or a type not in BTF")
    return _load_raw_tp(_cast_head(cast_id, skb_id, head_off, bytes_id) + b"".join([
        struct.pack("<BBhi", 0x69, 0x00, 12, 0),        # r0 = *(u16 *)(r0 + 12)
        _INSNS,                                         # r0 = 0; exit
    ]))


def try_rdonly_cast_void(cast_id: int, skb_id: int, head_off: int) -> Result:
    """Whether bpf_rdonly_cast(p, 0) gives untyped read-only memory that may be
    read at a variable offset (BPF_FEAT_RDONLY_CAST_TO_VOID, 6.16+).

    A pcap expression reads the packet at offsets it computes (the IPv4
    header's length), which a pointer to a typed byte array refuses; the
    untyped pointer lets the expression and the parsers read the packet in
    place instead of copying it out with bpf_probe_read_kernel."""
    if not (cast_id and skb_id):
        return Result(False, "bpf_rdonly_cast or struct sk_buff not in BTF")
    return _load_raw_tp(_cast_head(cast_id, skb_id, head_off, 0) + b"".join([
        struct.pack("<BBhi", 0x71, 0x01, 0, 0),         # r1 = *(u8 *)(r0 + 0): an unknown scalar
        struct.pack("<BBhi", 0x0F, 0x10, 0, 0),         # r0 += r1 (a variable offset)
        struct.pack("<BBhi", 0x71, 0x00, 12, 0),        # r0 = *(u8 *)(r0 + 12)
        _INSNS,                                         # r0 = 0; exit
    ]))


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


def obj_info(fd: int, size: int, info: ctypes.Array[ctypes.c_char] | None = None) -> bytes:
    """The kernel's info struct of a map, program or BTF fd (its first ``size``
    bytes); ``info``: one with the pointers to fill set (func_info, btf)."""
    info = info if info is not None else ctypes.create_string_buffer(size)
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("<IIQ", attr, 0, fd, size, ctypes.addressof(info))
    _check(*bpf_call(BPF_OBJ_GET_INFO_BY_FD, attr), "BPF_OBJ_GET_INFO_BY_FD")
    return info.raw


@dataclass(frozen=True)
class MapDef:
    """What BPF_MAP_CREATE needs to make a map again as the kernel reports it
    (bpf_map_info); the key and value types are ids in the program's BTF."""

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    extra: int = 0
    btf_key: int = 0
    btf_value: int = 0


def map_def(fd: int) -> tuple[MapDef, int]:
    """The map's definition and the id of its BTF (0: none)."""
    raw = obj_info(fd, _MAP_INFO_SIZE)
    typ, _id, ks, vs, me, fl = struct.unpack_from("<6I", raw)
    name = raw[24:40].split(b"\0", 1)[0].decode()
    btf_id, btf_key, btf_value = struct.unpack_from("<3I", raw, 64)
    (extra,) = struct.unpack_from("<Q", raw, 80)
    return MapDef(name, typ, ks, vs, me, fl, extra, btf_key, btf_value), btf_id


def prog_type(fd: int) -> int:
    return int(struct.unpack_from("<I", obj_info(fd, _PROG_INFO_SIZE))[0])


def map_create(m: MapDef, btf_fd: int = 0) -> int:
    attr = ctypes.create_string_buffer(72)
    struct.pack_into("<5I", attr, 0, m.type, m.key_size, m.value_size, m.max_entries, m.flags)
    struct.pack_into("16s", attr, 28, m.name.encode()[:BPF_OBJ_NAME_LEN - 1])
    if btf_fd and (m.btf_key or m.btf_value):
        struct.pack_into("<3I", attr, 48, btf_fd, m.btf_key, m.btf_value)
    struct.pack_into("<Q", attr, 64, m.extra)
    return _check(*bpf_call(BPF_MAP_CREATE, attr), f"creating map {m.name}")


def map_update(fd: int, key: bytes, value: bytes) -> None:
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value, len(value))
    attr = ctypes.create_string_buffer(32)
    struct.pack_into("<IIQQQ", attr, 0, fd, 0, ctypes.addressof(k), ctypes.addressof(v), 0)
    _check(*bpf_call(BPF_MAP_UPDATE_ELEM, attr), "BPF_MAP_UPDATE_ELEM")


@dataclass(frozen=True)
class FuncInfo:
    """A program's BTF function records (bpf_func_info): its full name and type
    for bpftool, as bcc gives them. Line info is not kept: the kernel reports it
    for the instructions after its own rewrites, which a new load would refuse."""

    records: bytes = b""
    rec_size: int = 0


def prog_load(name: str, ptype: int, insns: bytes, license: str, btf_fd: int = 0,
              func: FuncInfo = FuncInfo()) -> int:
    """Load a program as bcc does (bcc_func_load, no log on success)."""
    buf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    fi = ctypes.create_string_buffer(func.records, len(func.records) or 1)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQ", attr, 0, ptype, len(insns) // 8, ctypes.addressof(buf), ctypes.addressof(lic))
    struct.pack_into("16s", attr, 48, name.encode()[:BPF_OBJ_NAME_LEN - 1])
    if btf_fd and func.rec_size:
        struct.pack_into("<IIQI", attr, 72, btf_fd, func.rec_size, ctypes.addressof(fi),
                         len(func.records) // func.rec_size)
    return _check(*bpf_call(BPF_PROG_LOAD, attr), f"loading {name}")


def prog_btf(fd: int) -> tuple[int, FuncInfo]:
    """A loaded program's BTF id and function records (bpf_prog_info: btf_id at 128,
    func_info_rec_size 132, func_info 136, nr_func_info 144)."""
    raw = obj_info(fd, 148)
    btf_id, rec_size = struct.unpack_from("<II", raw, 128)
    (count,) = struct.unpack_from("<I", raw, 144)
    if not (btf_id and count and rec_size):
        return btf_id, FuncInfo()
    records = ctypes.create_string_buffer(count * rec_size)
    info = ctypes.create_string_buffer(148)
    struct.pack_into("<IQI", info, 132, rec_size, ctypes.addressof(records), count)
    obj_info(fd, 148, info)
    return btf_id, FuncInfo(records.raw, rec_size)


BPF_BTF_LOAD = 18
BPF_BTF_GET_FD_BY_ID = 19


def btf_raw(btf_id: int) -> bytes:
    """The BTF object ``btf_id`` as loaded (bpf_btf_info: btf, btf_size)."""
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("<I", attr, 0, btf_id)
    fd = _check(*bpf_call(BPF_BTF_GET_FD_BY_ID, attr), "BPF_BTF_GET_FD_BY_ID")
    try:
        (size,) = struct.unpack_from("<I", obj_info(fd, 12), 8)
        data = ctypes.create_string_buffer(size)
        info = ctypes.create_string_buffer(12)
        struct.pack_into("<QI", info, 0, ctypes.addressof(data), size)
        obj_info(fd, 12, info)
        return data.raw
    finally:
        os.close(fd)


def btf_load(raw: bytes) -> int:
    data = ctypes.create_string_buffer(raw, len(raw))
    attr = ctypes.create_string_buffer(32)
    struct.pack_into("<QQI", attr, 0, ctypes.addressof(data), 0, len(raw))
    return _check(*bpf_call(BPF_BTF_LOAD, attr), "loading the programs' BTF")


def raw_tracepoint_open(tp: str, prog_fd: int) -> int:
    """Attach a raw tracepoint program; the returned link fd keeps it attached."""
    name = ctypes.create_string_buffer(tp.encode())
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("<QI", attr, 0, ctypes.addressof(name), prog_fd)
    return _check(*bpf_call(BPF_RAW_TRACEPOINT_OPEN, attr), f"attaching {tp}")
