"""Compile and load the probes in a short-lived child; keep only the fds.

Why: bcc links LLVM and clang, and a process that has compiled with them
keeps ~130 MB of their code and heap resident for its whole life (measured:
RSS 49 MB before ``bcc.BPF()``, 193 MB after, 176 MB after ``cleanup()``).
A trace must stay under 200 MB with the TUI, so the tracing process never
compiles: a child (``python -m probes.childload``) compiles, loads and
attaches exactly as the in-process path does (``compile_probes`` and
LiveSource's own ``_attach``), then hands every fd the tracer needs over a unix
socket (SCM_RIGHTS) and exits. What the parent holds:

* the map fds: the rings it mmaps, the loss counters it reads, and the
  tail-call program array (the kernel empties a program array when its last
  user-space fd closes, which would silently stop every event);
* the link fds of the attached raw tracepoints: closing them detaches.

The programs stay loaded through the links and maps that reference them.
Only raw tracepoints are handed over; kprobe or fentry hooks (not on this
kernel, but on others) keep the in-process path.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from probes import progcache
from probes.bpfsys import MapDef, bpf_call, btf_raw, map_def, prog_btf, prog_type
from probes.cpus import PossibleCpus
from tracer.errors import BrtraceError
from tracer.filter import TraceFilter
from tracer.model import Hook, HookMode, HookStatus

MAPS = ("events", "spill", "cpu_hops", "cpu_raws", "cpu_routes", "cpu_pos", "produced", "lost", "emit_prog")
BPF_MAP_LOOKUP_ELEM = 1
IN_PROCESS_ENV = "BRTRACE_LOAD_IN_PROCESS"  # "1": compile in the tracing process (debugging)
CHILD_TIMEOUT_S = 60.0
_MAX_FDS = 64


def can_hand_over(hooks: Sequence[HookStatus]) -> bool:
    """Whether every live hook is a raw tracepoint (links the child can pass on)."""
    return os.environ.get(IN_PROCESS_ENV) != "1" and all(
        h.mode in (HookMode.RAW_TRACEPOINT, HookMode.OFF) for h in hooks)


class _Map:
    """One map by fd, with what LiveSource reads of bcc's tables."""

    def __init__(self, fd: int) -> None:
        self.map_fd = fd

    def __getitem__(self, key: int) -> list[int]:
        """A per-CPU u64 array's values at ``key``, one per possible CPU."""
        n = PossibleCpus.read().count
        value = ctypes.create_string_buffer(8 * n)
        k = ctypes.c_uint32(key)
        attr = ctypes.create_string_buffer(32)
        struct.pack_into("<IIQQQ", attr, 0, self.map_fd, 0, ctypes.addressof(k),
                         ctypes.addressof(value), 0)
        rc, err = bpf_call(BPF_MAP_LOOKUP_ELEM, attr)
        if rc < 0:
            raise BrtraceError(f"reading a probe counter failed: {os.strerror(err)}")
        return list(struct.unpack_from(f"<{n}Q", value))


class HandedProbes:
    """The probes a child loaded: maps by name and the links that keep hooks attached."""

    def __init__(self, maps: dict[str, int], links: list[int]) -> None:
        self._maps = {name: _Map(fd) for name, fd in maps.items()}
        self._links = links

    def __getitem__(self, name: bytes) -> _Map:
        return self._maps[name.decode()]

    def cleanup(self) -> None:
        """Detach (close the links) first, then let the maps and programs go."""
        links, self._links = self._links, []
        for fd in links:
            os.close(fd)
        maps, self._maps = self._maps, {}
        for m in maps.values():
            os.close(m.map_fd)


def load(flt: TraceFilter, macros: dict[str, int], snaplen: int, pages: int,
         hooks: Sequence[HookStatus], netns_inodes: Sequence[int] = ()
         ) -> tuple[HandedProbes, list[HookStatus]]:
    """Run the child; the probes it attached and each hook's final status.

    ``netns_inodes``: only these namespaces (brtrace agent --netns), filled
    into the program's netns_allow map by the child before it attaches.
    """
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    request = json.dumps({"filter": asdict(flt), "macros": macros, "snaplen": snaplen,
                          "pages": pages, "hooks": [(int(h.hook), h.mode, h.detail) for h in hooks],
                          "netns": list(netns_inodes)})
    try:
        proc = subprocess.Popen([sys.executable, "-m", "probes.childload", str(child.fileno())],
                                pass_fds=(child.fileno(),), stdin=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=_root())
        child.close()
        assert proc.stdin is not None
        proc.stdin.write(request.encode())
        proc.stdin.close()
        parent.settimeout(CHILD_TIMEOUT_S)
        msg, fds = _receive(parent)
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.wait(timeout=CHILD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrtraceError(f"the probe loader process failed: {exc}") from None
    finally:
        parent.close()
    return _unpack(msg, fds, proc.returncode, err.decode(errors="replace"))


def _root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    chunks: list[bytes] = []
    fds: list[int] = []
    while True:
        data, got, _flags, _addr = socket.recv_fds(sock, 1 << 16, _MAX_FDS)
        fds += got
        if not data:
            return b"".join(chunks), fds
        chunks.append(data)


def _unpack(msg: bytes, fds: list[int], rc: int | None,
            err: str) -> tuple[HandedProbes, list[HookStatus]]:
    reply: dict[str, Any]
    try:
        reply = json.loads(msg) if msg else {"error": err.strip().splitlines()[-1:] or [f"exit {rc}"]}
    except ValueError:
        reply = {"error": "garbled reply"}
    if "error" in reply or rc != 0:
        for fd in fds:
            os.close(fd)
        e = reply.get("error", f"exit status {rc}")
        raise BrtraceError(e if isinstance(e, str) else " ".join(e))
    names: list[str] = reply["maps"]
    maps = dict(zip(names, fds[:len(names)], strict=True))
    hooks = [HookStatus(Hook(h), HookMode(m), d) for h, m, d in reply["hooks"]]
    return HandedProbes(maps, fds[len(names):]), hooks


# -- the child -----------------------------------------------------------------
def _child(sock: socket.socket, req: dict[str, Any]) -> None:
    """Compile, load, attach as LiveSource does in-process, then send the fds
    and store what was loaded in the compiled-program cache for the next start."""
    from probes.loader import LiveSource, compile_inputs, compile_with  # bcc is imported there, here only

    f = req["filter"]
    flt = TraceFilter(**{**f, "fib_addrs": tuple(f["fib_addrs"])})
    src = object.__new__(LiveSource)  # only the compile/attach half of its state
    src._pages = req["pages"]
    src._hooks = asked = [HookStatus(Hook(h), HookMode(m), d) for h, m, d in req["hooks"]]
    src._netns = tuple(int(i) for i in req.get("netns", ()))
    macros = {k: int(v) for k, v in req["macros"].items()}
    try:
        inputs = compile_inputs(flt, macros, req["snaplen"], src._pages, src._hooks,
                                netns_filter=bool(src._netns))
        src._bpf = compile_with(inputs, macros)
        src._set_cfg(flt)
        src._allow_netns()  # the map stays with the program: the parent needs no fd of it
        src._attach()
    except BrtraceError as exc:
        sock.sendall(json.dumps({"error": str(exc)}).encode())
        return
    bpf: Any = src._bpf  # bcc.BPF here (untyped)
    fds = [bpf[n.encode()].map_fd for n in MAPS] + list(bpf.raw_tracepoint_fds.values())
    reply = json.dumps({"maps": list(MAPS), "hooks": [(int(h.hook), h.mode, h.detail) for h in src._hooks]})
    socket.send_fds(sock, [reply.encode()], fds)
    if src._hooks == asked:  # every hook attached: the next start may do exactly this
        _store(bpf, progcache.cache_key(inputs, progcache.attached(asked)), asked)
    # exiting closes the child's fds; the parent's copies keep everything attached


def _store(bpf: Any, key: str, hooks: Sequence[HookStatus]) -> None:
    try:
        progcache.store(capture(bpf, key, hooks))
    except (OSError, progcache.CacheError) as exc:  # a cache, never a reason to fail
        progcache.log.warning("compiled-program cache: not stored: %s", exc)


def capture(bpf: Any, key: str, hooks: Sequence[HookStatus]) -> progcache.Entry:
    """What bcc loaded, as a cache entry: each map as the kernel made it (under
    bcc's name for it), each loaded program's bytecode with maps as indices."""
    from probes.loader import TAIL_CALLS, _import_bcc, raw_tp_program

    lib, mod = _import_bcc().lib, bpf.module
    lib.bpf_num_tables.restype = ctypes.c_size_t
    lib.bpf_num_tables.argtypes = [ctypes.c_void_p]
    lib.bpf_table_name.restype = ctypes.c_char_p
    lib.bpf_table_name.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.bpf_table_fd_id.restype = ctypes.c_int
    lib.bpf_table_fd_id.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    maps: list[MapDef] = []
    fd_index: dict[int, int] = {}
    btf_ids: set[int] = set()
    for i in range(lib.bpf_num_tables(mod)):
        fd = lib.bpf_table_fd_id(mod, i)
        if fd < 0:
            raise progcache.CacheError(f"table {i} has no map")
        fd_index[fd] = i
        m, btf_id = map_def(fd)
        maps.append(replace(m, name=lib.bpf_table_name(mod, i).decode()))
        btf_ids.add(btf_id)
    progs = []
    for name, fn in bpf.funcs.items():
        insns, refs = progcache.unlink_maps(bpf.dump_func(name), fd_index)
        btf_id, func = prog_btf(fn.fd)
        progs.append(progcache.Prog(name.decode(), prog_type(fn.fd), insns, refs, func))
        btf_ids.add(btf_id)
    btf_ids.discard(0)
    if len(btf_ids) > 1:
        raise progcache.CacheError(f"the module's maps and programs have {len(btf_ids)} BTF objects")
    btf = btf_raw(btf_ids.pop()) if btf_ids else b""
    attach = tuple((raw_tp_program(tp), tp) for tp in progcache.attached(hooks))
    return progcache.Entry(key, lib.bpf_module_license(mod).decode(), tuple(maps), tuple(progs),
                           attach, TAIL_CALLS, btf)


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[1]))
    try:
        _child(sock, json.loads(sys.stdin.read()))
    except Exception as exc:  # noqa: BLE001 -- reported to the parent as one line
        sock.sendall(json.dumps({"error": f"probe loader: {exc}"}).encode())
    finally:
        sock.shutdown(socket.SHUT_WR)
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
