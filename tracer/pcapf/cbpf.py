"""Classic BPF as data: the instructions ``pcap_compile`` returns, and the checks
that say whether brtrace's kernel program can run them.

Why a model of our own: the translator (``tracer/pcapf/translate.py``) and the
unit tests work on recorded programs without libpcap, and a program is refused
here, before any C is written, with one line naming what cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from tracer.errors import BrtraceError

SKF_AD_OFF = 0xFFFFF000  # -0x1000 as u32: linux ancillary loads (skb fields, not packet bytes)
MEM_WORDS = 16  # BPF_MEMWORDS


class Cls(IntEnum):
    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    RET = 0x06
    MISC = 0x07


class Size(IntEnum):
    W = 0x00
    H = 0x08
    B = 0x10


class Mode(IntEnum):
    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    LEN = 0x80
    MSH = 0xA0


class AluOp(IntEnum):
    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90
    XOR = 0xA0


class JmpOp(IntEnum):
    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40


SRC_X = 0x08  # BPF_X: the operand is X, not k
RVAL_A = 0x10  # BPF_RET|BPF_A
MISC_TXA = 0x80  # BPF_MISC|BPF_TXA (else TAX)


@dataclass(frozen=True, slots=True)
class Insn:
    """One ``struct bpf_insn``: jt/jf are relative forward offsets, as libpcap emits them."""

    code: int
    jt: int
    jf: int
    k: int

    @property
    def cls(self) -> Cls:
        return Cls(self.code & 0x07)

    @property
    def size(self) -> int:
        return {Size.W: 4, Size.H: 2, Size.B: 1}[Size(self.code & 0x18)]

    @property
    def mode(self) -> Mode:
        return Mode(self.code & 0xE0)


def refuse(expr: str, why: str) -> BrtraceError:
    """The one line a user sees for an expression brtrace cannot run in the kernel."""
    return BrtraceError(f"filter {expr!r} cannot run in brtrace's kernel program: {why}", 2)


def check(prog: list[Insn], expr: str) -> None:
    """Refuse what the translator cannot make bounded: any jump not strictly
    forward inside the program (``protochain`` loops with a backward ``ja``),
    loads of Linux's ancillary fields (brtrace filters on the header bytes it
    read and the frame's length, nothing else), a program that may fall off
    its end."""
    if not prog:
        raise refuse(expr, "empty program")
    for pc, i in enumerate(prog):
        try:
            _check_one(prog, pc, i)
        except ValueError as exc:
            raise refuse(expr, f"{exc} (instruction {pc})") from None
    if prog[-1].cls not in (Cls.RET, Cls.JMP):
        raise refuse(expr, "the program does not end in a return")


def _check_one(prog: list[Insn], pc: int, i: Insn) -> None:
    try:
        cls = i.cls
    except ValueError:
        raise ValueError(f"unknown instruction class {i.code:#x}") from None
    if cls in (Cls.LD, Cls.LDX):
        try:
            mode = i.mode
        except ValueError:
            raise ValueError(f"unknown load mode {i.code:#x}") from None
        if mode in (Mode.ABS, Mode.IND) and i.k >= SKF_AD_OFF:
            raise ValueError("it reads a Linux ancillary field, not packet bytes")
        if mode is Mode.MEM and i.k >= MEM_WORDS:
            raise ValueError("scratch memory index out of range")
        if cls is Cls.LDX and mode not in (Mode.IMM, Mode.MEM, Mode.MSH, Mode.LEN):
            raise ValueError(f"unsupported ldx mode {i.code:#x}")
    elif cls in (Cls.ST, Cls.STX) and i.k >= MEM_WORDS:
        raise ValueError("scratch memory index out of range")
    elif cls is Cls.ALU:
        try:
            AluOp(i.code & 0xF0)
        except ValueError:
            raise ValueError(f"unsupported ALU operation {i.code:#x}") from None
    elif cls is Cls.JMP:
        _check_jump(prog, pc, i)


def _check_jump(prog: list[Insn], pc: int, i: Insn) -> None:
    try:
        op = JmpOp(i.code & 0xF0)
    except ValueError:
        raise ValueError(f"unsupported jump {i.code:#x}") from None
    targets = [i.k] if op is JmpOp.JA else [i.jt, i.jf]
    for off in targets:
        # k is u32: a "negative" ja (protochain's loop) is a huge offset here
        if off >= 0x80000000:
            raise ValueError("it jumps backwards (a loop, e.g. protochain)")
        if pc + 1 + off >= len(prog):
            raise ValueError("it jumps past the end of the program")
