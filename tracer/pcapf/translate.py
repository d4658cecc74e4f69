"""Classic BPF to C for brtrace's kernel program (pwru does this through cbpfc;
this is brtrace's own, smaller take on the same idea).

Each cBPF instruction becomes one C statement on the registers A and X and the
scratch words M[]; a jump becomes a forward ``goto`` (``cbpf.check`` refused
everything else), so the verifier sees straight-line code with forward
branches only. Every packet load is bounded twice: against ``n``, the header
bytes actually read (a load past them rejects the packet, as a cBPF load past
the packet's end does), and by HB()'s mask into the per-CPU header buffer.

The generated functions read packet bytes from ``base`` on: the L2 program
also runs on the Ethernet frame inside a VXLAN packet (``--inner``).

Each program comes twice: on the per-CPU header buffer (HB(), byte by
byte), and, where the kernel lets brtrace read the packet in place
(brtrace.c: BRT_CAST_VOID), as ``<name>_kmem`` with one guarded load per
cBPF load (CLD) on the packet itself: the cost a packet brtrace does not
trace pays at every hook (bench pcapcost).
"""

from __future__ import annotations

from collections.abc import Iterator

from tracer.pcapf.cbpf import RVAL_A, SRC_X, AluOp, Cls, Insn, JmpOp, Mode, check

HEADER_NAME = "brt_filter.h"

_ALU = {AluOp.ADD: "+", AluOp.SUB: "-", AluOp.MUL: "*", AluOp.DIV: "/", AluOp.OR: "|",
        AluOp.AND: "&", AluOp.LSH: "<<", AluOp.RSH: ">>", AluOp.MOD: "%", AluOp.XOR: "^"}
_JMP = {JmpOp.JEQ: "A == {v}", JmpOp.JGT: "A > {v}", JmpOp.JGE: "A >= {v}", JmpOp.JSET: "(A & {v}) != 0"}


def translate(prog: list[Insn], name: str, expr: str, kmem: bool = False) -> str:
    """One ``static __always_inline u32 name(u8 *b, u32 n, u32 base, u32 len)``:
    nonzero when the packet at ``b[base..n)`` matches; ``len`` is its length
    on the wire (cBPF's ``ld len``: ``len``, ``greater``, ``less``), of
    which the first n - base bytes were read. ``kmem``: b is the packet in
    place (an untyped bpf_rdonly_cast pointer), read with whole loads."""
    check(prog, expr)
    targets = _targets(prog)
    mem = any(i.cls in (Cls.ST, Cls.STX) or (i.cls in (Cls.LD, Cls.LDX) and i.mode is Mode.MEM)
              for i in prog)
    body = [f"static __always_inline u32 {name}(u8 *b, u32 n, u32 base, u32 len)", "{",
            "    u32 A = 0, X = 0;", "    u64 o = 0;"]
    if mem:
        body.append("    u32 M[16] = {};")
    body.append("    (void)A; (void)X; (void)o; (void)b; (void)n; (void)base; (void)len;")
    for pc, insn in enumerate(prog):
        if pc in targets:
            body.append(f"L{pc}: ;")
        body += [f"    {s}" for s in _stmt(pc, insn, kmem)]
    body += ["    return 0;", "}"]
    return "\n".join(body)


def _targets(prog: list[Insn]) -> set[int]:
    out: set[int] = set()
    for pc, i in enumerate(prog):
        if i.cls is Cls.JMP:
            offs = [i.k] if JmpOp(i.code & 0xF0) is JmpOp.JA else [i.jt, i.jf]
            out |= {pc + 1 + o for o in offs if o}
    return out


_KMEM_LOAD = {1: "(u32)CLD(u8, b, o)", 2: "(u32)__builtin_bswap16(CLD(u16, b, o))",
              4: "__builtin_bswap32(CLD(u32, b, o))"}


def _load(i: Insn, dst: str, indirect: bool, kmem: bool) -> list[str]:
    """A bounded big-endian load of i.size bytes at base + k (+ X)."""
    where = f"(u64)base + X + {i.k}U" if indirect else f"(u64)base + {i.k}U"
    if kmem:
        value = _KMEM_LOAD[i.size]
    else:
        value = " | ".join(f"((u32)HB(b, o + {j}) << {8 * (i.size - 1 - j)})" for j in range(i.size))
    return [f"o = {where};", f"if (o + {i.size} > n) return 0;", f"{dst} = {value};"]


def _stmt(pc: int, i: Insn, kmem: bool) -> Iterator[str]:
    cls = i.cls
    if cls is Cls.LD:
        yield from _ld(i, "A", kmem)
    elif cls is Cls.LDX:
        if i.mode is Mode.MSH:  # X = 4 * (b[k] & 0xf): the IPv4 header length
            byte = "CLD(u8, b, o)" if kmem else "HB(b, o)"
            yield from [f"o = (u64)base + {i.k}U;", "if (o + 1 > n) return 0;",
                        f"X = ((u32){byte} & 0xf) << 2;"]
        else:
            yield from _ld(i, "X", kmem)
    elif cls is Cls.ST:
        yield f"M[{i.k}] = A;"
    elif cls is Cls.STX:
        yield f"M[{i.k}] = X;"
    elif cls is Cls.ALU:
        yield from _alu(i)
    elif cls is Cls.JMP:
        yield from _jmp(pc, i)
    elif cls is Cls.RET:
        yield "return A;" if i.code & RVAL_A else ("return X;" if i.code & SRC_X else f"return {i.k}U;")
    else:  # MISC
        yield "A = X;" if i.code & 0x80 else "X = A;"


def _ld(i: Insn, dst: str, kmem: bool) -> list[str]:
    if i.mode is Mode.IMM:
        return [f"{dst} = {i.k}U;"]
    if i.mode is Mode.MEM:
        return [f"{dst} = M[{i.k}];"]
    if i.mode is Mode.LEN:
        return [f"{dst} = len;"]
    return _load(i, dst, i.mode is Mode.IND, kmem)


def _alu(i: Insn) -> list[str]:
    op = AluOp(i.code & 0xF0)
    if op is AluOp.NEG:
        return ["A = -A;"]
    v = "X" if i.code & SRC_X else f"{i.k}U"
    if op in (AluOp.DIV, AluOp.MOD):
        # cBPF: division by zero rejects the packet (a constant zero pcap never emits)
        return ([f"if ({v} == 0) return 0;"] if v == "X" or i.k == 0 else []) + [f"A {_ALU[op]}= {v};"]
    if op in (AluOp.LSH, AluOp.RSH):
        v = "(X & 31)" if v == "X" else f"{i.k & 31}U"
    return [f"A {_ALU[op]}= {v};"]


def _jmp(pc: int, i: Insn) -> list[str]:
    op = JmpOp(i.code & 0xF0)
    if op is JmpOp.JA:
        return [f"goto L{pc + 1 + i.k};"] if i.k else []
    cond = _JMP[op].format(v="X" if i.code & SRC_X else f"{i.k}U")
    t, f = pc + 1 + i.jt, pc + 1 + i.jf
    if i.jt == i.jf:
        return [f"goto L{t};"] if i.jt else []
    if not i.jf:
        return [f"if ({cond}) goto L{t};"]
    if not i.jt:
        return [f"if (!({cond})) goto L{f};"]
    return [f"if ({cond}) goto L{t};", f"goto L{f};"]


def filter_header(expr: str | None, l2: list[Insn] | None, l3: list[Insn] | None, inner: bool) -> str:
    """brt_filter.h for one load. No expression: an empty header (brtrace.c
    then filters with its fixed -D filter only). ``l3`` None: the expression
    has no meaning on a bare IP packet (e.g. ``arp``, ``ether host``), so an
    L3-only hook never matches it."""
    lines = [f"/* {HEADER_NAME}: generated by tracer/pcapf/translate.py. Do not edit. */",
             "#ifndef BRT_FILTER_H", "#define BRT_FILTER_H"]
    if expr is not None and l2 is not None:
        lines += [f"/* expression: {expr.replace('*/', '* /')} */", "#define BRT_PCAP_FILTER 1"]
        if any(i.mode is Mode.LEN for i in [*l2, *(l3 or [])] if i.cls in (Cls.LD, Cls.LDX)):
            lines.append("#define BRT_PCAP_LEN 1 /* it tests the length: brtrace.c reads skb->len */")
        if inner:
            lines.append("#define BRT_PCAP_INNER 1")
        lines.append(translate(l2, "brt_pcap_l2", expr))
        if l3 is not None:
            lines += ["#define BRT_PCAP_L3 1", translate(l3, "brt_pcap_l3", expr)]
        lines += ["#ifdef BRT_CAST_VOID", translate(l2, "brt_pcap_l2_kmem", expr, kmem=True)]
        if l3 is not None:
            lines.append(translate(l3, "brt_pcap_l3_kmem", expr, kmem=True))
        lines.append("#endif")
    return "\n".join([*lines, "#endif", ""])
