"""The compiled-program cache: bcc's bytecode kept per boot, so a start loads it
with bare bpf(2) calls instead of compiling again.

Why: compiling brtrace.c with bcc's clang/LLVM is the largest part of start-up
(~0.7 s of ~1.5 s, plus a child process to keep LLVM out of the tracer), yet
its output only changes when something that goes into the compile changes.
Those inputs make the key (:func:`cache_key`): the C sources, the generated
headers (brt_schema.h, brt_filter.h), every cflag (the -D values include this
boot's BTF offsets and ids), the attached hooks, the kernel release, bcc's
version and the loader that patches the bytecode. An entry holds, per
program, its bytecode after patch_casts with each map reference (ld_imm64,
src_reg BPF_PSEUDO_MAP_FD, imm = an fd of the compiling process) turned into
an index into the entry's map definitions and its BTF function records; each
map as the kernel reports it; the BTF bcc loaded with both (so bpftool shows
the same names and types either way); what to attach where and the tail-call
slots to fill. probes/cacheload.py loads an entry.

Entries live in a root-only directory under /run (tmpfs: a reboot clears it),
one file per key written atomically, the newest KEEP kept. This module
imports no bcc.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import asdict, astuple, dataclass
from typing import Any

from probes import kernel
from probes.bpfsys import FuncInfo, MapDef
from probes.plan import PLAN_CACHE_DIR
from tracer.model import HookMode, HookStatus

log = logging.getLogger(__name__)

FORMAT = 2  # of an entry file: a change makes every older entry a miss (it is in the key)
DIR_ENV = "BRTRACE_PROG_CACHE"  # a directory instead of PROG_CACHE_DIR; "off": no cache (debugging)
PROG_CACHE_DIR = os.path.join(PLAN_CACHE_DIR, "progs")
KEEP = 8  # entries: a few filters and hook sets in turn, each ~100 KiB
PROBE_DIR = os.path.dirname(os.path.abspath(__file__))
# What the bytecode is made from besides the cflags and generated headers: the C
# program and its headers, and the loader (patch_casts rewrites the bytecode).
SOURCES = ("brtrace.c", "brtrace.h", "loader.py")
LD_IMM64 = 0x18
PSEUDO_MAP_FD = 1


class CacheError(Exception):
    """An entry that cannot be used: corrupt, unsafe, or refused by the kernel."""


@dataclass(frozen=True)
class CompileInputs:
    """Everything bcc compiles brtrace.c with, besides the source files."""

    cflags: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]  # (file name, text) of the generated headers


@dataclass(frozen=True)
class Prog:
    name: str
    type: int  # BPF_PROG_TYPE_*
    insns: bytes  # map references' imm zeroed; refs says which map goes there
    refs: tuple[tuple[int, int], ...]  # (instruction index, map index)
    func: FuncInfo = FuncInfo()  # its records in the entry's BTF


@dataclass(frozen=True)
class Entry:
    key: str
    license: str
    maps: tuple[MapDef, ...]
    progs: tuple[Prog, ...]
    attach: tuple[tuple[str, str], ...]  # (program, raw tracepoint)
    tail_calls: tuple[tuple[str, int, str], ...]  # (program array map, slot, program)
    btf: bytes = b""  # the programs' BTF as bcc loaded it (names, map key/value types); b"": none


def _bcc_version() -> str:
    """bcc's version without importing it (importing maps libbcc and its LLVM)."""
    spec = importlib.util.find_spec("bcc")
    if spec is None or spec.origin is None:
        return "no bcc"
    try:
        with open(os.path.join(os.path.dirname(spec.origin), "version.py")) as f:
            return f.read().strip()
    except OSError:
        return "bcc version unknown"


def cache_key(inputs: CompileInputs, attach: Sequence[str],
              sources: Sequence[str] = SOURCES, probe_dir: str = PROBE_DIR) -> str:
    """The entry's name: a hash of everything that goes into the compile and the load."""
    h = hashlib.sha256()

    def part(label: str, data: bytes) -> None:
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)

    part("format", str(FORMAT).encode())
    part("kernel", kernel.release().encode())
    part("bcc", _bcc_version().encode())
    for name in sources:
        with open(os.path.join(probe_dir, name), "rb") as f:
            part(f"source {name}", f.read())
    for name, text in inputs.headers:
        part(f"header {name}", text.encode())
    part("cflags", "\0".join(inputs.cflags).encode())
    part("attach", "\0".join(attach).encode())
    return h.hexdigest()[:40]


def attached(hooks: Sequence[HookStatus]) -> list[str]:
    """The raw tracepoints a load attaches: part of the key (--all-hooks attaches more
    with the same compile) and what an entry records."""
    return [h.hook.function for h in hooks if h.mode == HookMode.RAW_TRACEPOINT]


def unlink_maps(code: bytes, fd_index: Mapping[int, int]) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    """Bytecode with each map fd replaced by 0, and where each map went.

    A reference to an fd not in ``fd_index`` (or any kind of map reference
    other than by fd) cannot be made again: CacheError."""
    if len(code) % 8:
        raise CacheError("bytecode length not a multiple of 8")
    out = bytearray(code)
    refs: list[tuple[int, int]] = []
    i, n = 0, len(code) // 8
    while i < n:
        op, regs, _off, imm = struct.unpack_from("<BBhi", code, i * 8)
        if op != LD_IMM64:
            i += 1
            continue
        src = regs >> 4
        if src == PSEUDO_MAP_FD:
            if imm not in fd_index:
                raise CacheError(f"instruction {i} refers to fd {imm}, not one of the module's maps")
            refs.append((i, fd_index[imm]))
            struct.pack_into("<i", out, i * 8 + 4, 0)
        elif src != 0:
            raise CacheError(f"instruction {i}: ld_imm64 src_reg {src} is not cached")
        i += 2
    return bytes(out), tuple(refs)


def relink(prog: Prog, map_fds: Sequence[int]) -> bytes:
    """The program's bytecode with this process's map fds in place."""
    out = bytearray(prog.insns)
    for insn, m in prog.refs:
        struct.pack_into("<i", out, insn * 8 + 4, map_fds[m])
    return bytes(out)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def to_json(e: Entry) -> bytes:
    d: dict[str, Any] = asdict(e)
    d["format"] = FORMAT
    d["btf"] = _b64(e.btf)
    d["progs"] = [{**asdict(p), "insns": _b64(p.insns),
                   "func": {"records": _b64(p.func.records), "rec_size": p.func.rec_size}} for p in e.progs]
    return json.dumps(d).encode()


def _prog(p: dict[str, Any]) -> Prog:
    f = p["func"]
    return Prog(str(p["name"]), int(p["type"]), base64.b64decode(p["insns"], validate=True),
                tuple((int(a), int(b)) for a, b in p["refs"]),
                FuncInfo(base64.b64decode(f["records"], validate=True), int(f["rec_size"])))


def from_json(data: bytes, key: str) -> Entry:
    """An entry as stored, checked to be whole and consistent (else CacheError)."""
    try:
        d = json.loads(data)
        if d["format"] != FORMAT or d["key"] != key:
            raise CacheError("entry of another format or key")
        maps = tuple(MapDef(**m) for m in d["maps"])
        e = Entry(key, str(d["license"]), maps, tuple(_prog(p) for p in d["progs"]),
                  tuple((str(p), str(t)) for p, t in d["attach"]),
                  tuple((str(m), int(s), str(p)) for m, s, p in d["tail_calls"]),
                  base64.b64decode(d["btf"], validate=True))
    except (ValueError, KeyError, TypeError) as exc:
        raise CacheError(f"corrupt entry: {exc!r}") from None
    _check(e)
    return e


def _check(e: Entry) -> None:
    if any(not isinstance(m.name, str) or not all(isinstance(v, int) for v in astuple(m)[1:])
           for m in e.maps):
        raise CacheError("corrupt entry: a map definition")
    names = {p.name for p in e.progs}
    for p in e.progs:
        n = len(p.insns) // 8
        if not n or len(p.insns) % 8 or any(not (0 <= i < n and 0 <= m < len(e.maps)) for i, m in p.refs):
            raise CacheError(f"corrupt entry: program {p.name}")
        if p.func.rec_size and (len(p.func.records) % p.func.rec_size or not e.btf):
            raise CacheError(f"corrupt entry: function records of {p.name}")
    maps = {m.name for m in e.maps}
    if any(p not in names for p, _ in e.attach) or any(
            m not in maps or p not in names for m, _, p in e.tail_calls):
        raise CacheError("corrupt entry: attaches or wires a program or map it lacks")


# -- the files -----------------------------------------------------------------
def cache_dir() -> str | None:
    d = os.environ.get(DIR_ENV, PROG_CACHE_DIR)
    return None if d == "off" else d


def _path(key: str) -> str | None:
    d = cache_dir()
    return os.path.join(d, f"{key}.json") if d else None


def _safe(path: str) -> bool:
    """Only the loading user (root) may have written what it loads into the kernel."""
    st = os.stat(path)
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def lookup(key: str) -> Entry | None:
    """The entry of ``key``, or None (absent; or unusable, then logged and removed)."""
    path = _path(key)
    if path is None or not os.path.exists(path):
        return None
    try:
        if not (_safe(os.path.dirname(path)) and _safe(path)):
            raise CacheError("writable by others than its owner, or not this user's")
        with open(path, "rb") as f:
            e = from_json(f.read(), key)
        os.utime(path)  # the newest are kept
        return e
    except (OSError, CacheError) as exc:
        discard(key, f"{exc}")
        return None


def discard(key: str, why: str) -> None:
    """Drop an entry that failed; the next start compiles and stores it again."""
    log.warning("compiled-program cache entry %s unusable, compiling instead: %s", key, why)
    path = _path(key)
    try:
        if path:
            os.unlink(path)
    except OSError:
        pass


def store(e: Entry) -> None:
    """Write atomically, then keep only the newest KEEP entries. Never fails the caller."""
    path = _path(e.key)
    if path is None:
        return
    d = os.path.dirname(path)
    try:
        if d == PROG_CACHE_DIR:
            os.makedirs(PLAN_CACHE_DIR, mode=0o700, exist_ok=True)
        os.makedirs(d, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(to_json(e))
        os.replace(tmp, path)
        _prune(d)
    except OSError as exc:
        log.warning("compiled-program cache not written: %s", exc)


def _prune(d: str) -> None:
    """Keep the newest KEEP; another start pruning at the same time is no error."""
    entries: list[tuple[float, str]] = []
    for name in os.listdir(d):
        if name.endswith(".json"):
            with contextlib.suppress(OSError):
                entries.append((os.path.getmtime(os.path.join(d, name)), os.path.join(d, name)))
    for _, old in sorted(entries, reverse=True)[KEEP:]:
        with contextlib.suppress(OSError):
            os.unlink(old)
