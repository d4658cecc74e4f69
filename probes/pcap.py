"""libpcap's filter compiler, through ctypes on the system's libpcap (Debian: libpcap0.8).

``pcap_open_dead`` + ``pcap_compile`` turn an expression into classic BPF for
a link type without any capture: brtrace then translates the program into C
for its kernel program (tracer/pcapf/translate.py). Using libpcap itself means
the expression means exactly what it means to tcpdump.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from enum import IntEnum
from functools import cache

from tracer.errors import BrtraceError
from tracer.pcapf.cbpf import Insn, check

PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF
SNAPLEN = 262144


class Dlt(IntEnum):
    """The link types brtrace's hooks see: a frame, or a bare IP packet."""

    EN10MB = 1
    RAW = 12  # DLT_RAW on Linux (LINKTYPE_RAW 101 on the wire)


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_Insn))]


class _PktHdr(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long), ("caplen", ctypes.c_uint32),
                ("len", ctypes.c_uint32)]


@cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("pcap") or "libpcap.so.0.8"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise BrtraceError("filter expressions need libpcap (Debian: apt-get install libpcap0.8)") from None
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_compile.restype = ctypes.c_int
    lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Prog), ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_uint32]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_freecode.argtypes = [ctypes.POINTER(_Prog)]
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    lib.pcap_offline_filter.restype = ctypes.c_int
    lib.pcap_offline_filter.argtypes = [ctypes.POINTER(_Prog), ctypes.POINTER(_PktHdr), ctypes.c_char_p]
    return lib


def compile_expr(expr: str, dlt: Dlt) -> list[Insn]:
    """The optimised cBPF program for ``expr`` on ``dlt``; BrtraceError with
    libpcap's own message when it does not compile."""
    lib = _lib()
    p = lib.pcap_open_dead(int(dlt), SNAPLEN)
    if not p:
        raise BrtraceError("libpcap: pcap_open_dead failed")
    prog = _Prog()
    try:
        if lib.pcap_compile(p, ctypes.byref(prog), expr.encode(), 1, PCAP_NETMASK_UNKNOWN) != 0:
            err = (lib.pcap_geterr(p) or b"").decode(errors="replace")
            raise BrtraceError(f"bad filter expression {expr!r}: {err}", 2)
        out = [Insn(i.code, i.jt, i.jf, i.k) for i in prog.bf_insns[: prog.bf_len]]
        lib.pcap_freecode(ctypes.byref(prog))
        return out
    finally:
        lib.pcap_close(p)


def compile_both(expr: str) -> tuple[list[Insn], list[Insn] | None]:
    """The L2 (Ethernet) program, and the L3 (bare IP) one when the expression
    means anything without a link layer (``arp`` or ``ether host`` do not).
    Refused here (one line) when brtrace's kernel program cannot run them."""
    l2 = compile_expr(expr, Dlt.EN10MB)
    check(l2, expr)
    try:
        l3: list[Insn] | None = compile_expr(expr, Dlt.RAW)
    except BrtraceError:
        l3 = None
    if l3 is not None:
        check(l3, expr)
    return l2, l3


def offline_matches(expr: str, dlt: Dlt, packets: list[bytes]) -> list[bool]:
    """libpcap's own verdict (``pcap_offline_filter``) on each of ``packets``:
    the reference the translated C is held to, and the replay-side filter on
    stored headers (each packet's caplen is its stored length)."""
    lib = _lib()
    p = lib.pcap_open_dead(int(dlt), SNAPLEN)
    prog = _Prog()
    try:
        if lib.pcap_compile(p, ctypes.byref(prog), expr.encode(), 1, PCAP_NETMASK_UNKNOWN) != 0:
            err = (lib.pcap_geterr(p) or b"").decode(errors="replace")
            raise BrtraceError(f"bad filter expression {expr!r}: {err}", 2)
        try:
            out = []
            for pkt in packets:
                hdr = _PktHdr(0, 0, len(pkt), len(pkt))
                out.append(lib.pcap_offline_filter(ctypes.byref(prog), ctypes.byref(hdr), pkt) != 0)
            return out
        finally:
            lib.pcap_freecode(ctypes.byref(prog))
    finally:
        lib.pcap_close(p)


class _Compiled:
    """One expression compiled for one link type, freed with the object."""

    def __init__(self, expr: str, dlt: Dlt) -> None:
        self._lib = _lib()
        self.prog = _Prog()
        p = self._lib.pcap_open_dead(int(dlt), SNAPLEN)
        if not p:
            raise BrtraceError("libpcap: pcap_open_dead failed")
        try:
            code = ctypes.byref(self.prog)
            if self._lib.pcap_compile(p, code, expr.encode(), 1, PCAP_NETMASK_UNKNOWN) != 0:
                err = (self._lib.pcap_geterr(p) or b"").decode(errors="replace")
                raise BrtraceError(f"bad filter expression {expr!r}: {err}", 2)
        finally:
            self._lib.pcap_close(p)
        self._live = True

    def __call__(self, pkt: bytes, wire_len: int) -> bool:
        hdr = _PktHdr(0, 0, len(pkt), max(wire_len, len(pkt)))
        return bool(self._lib.pcap_offline_filter(ctypes.byref(self.prog), ctypes.byref(hdr), pkt))

    def __del__(self) -> None:
        if getattr(self, "_live", False):
            self._live = False
            self._lib.pcap_freecode(ctypes.byref(self.prog))


def offline_filter(expr: str) -> Callable[[bytes, bool, int], bool]:
    """libpcap's verdict on stored headers, compiled once (the TUI's filter box:
    ``tracer/pcapf/offline.ExprCompiler``, injected by the CLI): the Ethernet
    program for a frame, the raw-IP one for headers that start at the IP
    header. An expression with no meaning without a link layer (``arp``)
    never matches bare IP headers, as in the kernel. BrtraceError (one line)
    when it does not compile."""
    l2 = _Compiled(expr, Dlt.EN10MB)
    try:
        l3: _Compiled | None = _Compiled(expr, Dlt.RAW)
    except BrtraceError:
        l3 = None

    def test(headers: bytes, is_l3: bool, wire_len: int) -> bool:
        if is_l3:
            return l3 is not None and l3(headers, wire_len)
        return l2(headers, wire_len)

    return test
