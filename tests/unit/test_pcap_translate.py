"""The pcap-filter translator (tracer/pcapf) on libpcap's own programs.

Two kinds of check, no root needed: recorded cBPF programs (refusals, the
shape of the bounded loads), and a differential one: the generated C, built
with the system C compiler into a small harness that calls it exactly as
brtrace.c does (HB() masking into a 128-byte buffer, n bytes read), must give
libpcap's ``pcap_offline_filter`` verdict on every packet of a mix, at L2,
at L3 and on the frame inside VXLAN; so must the in-place variant
(``*_kmem``, whole unaligned loads through CLD, as on a BRT_CAST_VOID kernel). The kernel half is
tests/kernel/test_pcap_filter.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from probes.pcap import Dlt, compile_both, offline_matches
from tracer.errors import BrtraceError
from tracer.pcapf.cbpf import Insn, check
from tracer.pcapf.translate import HEADER_NAME, filter_header, translate

HDR_BUF = 128
VX_INNER = 14 + 20 + 8 + 8  # the inner frame's offset in a VXLAN frame (no IP options)

# libpcap 1.10's optimised program for 'icmp and host 1.2.3.4' on DLT_EN10MB
ICMP_HOST = [Insn(0x28, 0, 0, 12), Insn(0x15, 0, 7, 0x800), Insn(0x30, 0, 0, 23), Insn(0x15, 0, 5, 1),
             Insn(0x20, 0, 0, 26), Insn(0x15, 2, 0, 0x01020304), Insn(0x20, 0, 0, 30),
             Insn(0x15, 0, 1, 0x01020304), Insn(0x06, 0, 0, 262144), Insn(0x06, 0, 0, 0)]

HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
typedef uint8_t u8; typedef uint16_t u16; typedef uint32_t u32; typedef uint64_t u64;
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define HDR_BUF 128
#define HB(b, o) ((b)[(o) & (HDR_BUF - 1)])
#define BRT_CAST_VOID 1 /* the in-place variants too; CLD as the JIT's guarded load, unaligned */
#define CLD(T, p, off) ({ T v_; memcpy(&v_, (const u8 *)(p) + (off), sizeof(T)); v_; })
#include "brt_filter.h"
int main(void)
{
    char mode[4]; unsigned base, n; char hex[2 * HDR_BUF + 2];
    while (scanf("%3s %u %u %258s", mode, &base, &n, hex) == 4) {
        u8 b[HDR_BUF + 32] = {0};
        for (unsigned i = 0; i < n; i++)
            sscanf(hex + 2 * i, "%2hhx", &b[i]);
        u32 r = 0, k = 0, wl = n - base; /* the wire length offline_matches gives libpcap */
#ifdef BRT_PCAP_L3
        if (mode[0] == '3') { r = brt_pcap_l3(b, n, base, wl); k = brt_pcap_l3_kmem(b, n, base, wl); } else
#endif
        if (mode[0] != '3') { r = brt_pcap_l2(b, n, base, wl); k = brt_pcap_l2_kmem(b, n, base, wl); }
        printf("%d\n", r != 0);
        printf("%d\n", k != 0);
    }
    return 0;
}
"""


def _packets() -> list[bytes]:
    a, b = "10.244.0.2", "10.244.1.3"
    inner = Ether() / IP(src=a, dst=b, id=7) / TCP(sport=40000, dport=80, flags="S")
    pkts = [Ether() / IP(src=a, dst=b, id=1) / ICMP(id=9),
            Ether() / IP(src=b, dst=a, id=2) / ICMP(type=0, id=9),
            Ether() / IP(src=a, dst=b, id=3) / TCP(sport=40000, dport=80, flags="S"),
            Ether() / IP(src=a, dst=b, id=4) / TCP(sport=80, dport=40000, flags="SA"),
            Ether() / IP(src=a, dst="10.96.0.10", id=5) / UDP(sport=5353, dport=53),
            Ether() / IP(src=a, dst=b, id=6, frag=10) / UDP(sport=1, dport=2),
            Ether() / IP(src=a, dst=b, options=b"\x01\x01\x01\x00") / TCP(sport=22, dport=8080),
            Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=a, pdst=b),
            Ether() / ARP(op=2, psrc=b, pdst=a),
            Ether() / Dot1Q(vlan=5) / IP(src=a, dst=b) / ICMP(),
            Ether() / Dot1Q(vlan=7) / ARP(psrc=a, pdst=b),
            Ether() / IPv6() / UDP(dport=53),
            Ether() / IP(src="192.168.56.11", dst="192.168.56.12") / UDP(sport=4000, dport=8472)
            / VXLAN(vni=1) / inner,
            Ether() / IP(src="192.168.56.11", dst="192.168.56.12") / UDP(sport=4000, dport=4789)
            / VXLAN(vni=1) / Ether() / IP(src=b, dst=a) / ICMP(type=0)]
    return [bytes(p)[:HDR_BUF] for p in pkts] + [bytes(pkts[0])[:20]]


PACKETS = _packets()


@pytest.fixture(scope="module")
def cc() -> str:
    path = shutil.which("cc") or shutil.which("gcc")
    if path is None:  # build-essential comes with linux-headers' dkms chain on Debian
        pytest.fail("no C compiler: the translator's differential test builds the generated C")
    return path


def _verdicts(cc: str, tmp: Path, expr: str, cases: list[tuple[str, int, bytes]]) -> list[bool]:
    l2, l3 = compile_both(expr)
    (tmp / HEADER_NAME).write_text(filter_header(expr, l2, l3, inner=True))
    (tmp / "h.c").write_text(HARNESS)
    subprocess.run([cc, "-O1", "-Wall", "-Werror", "-Wno-unused-label", "-I", str(tmp), "-o",
                    str(tmp / "h"), str(tmp / "h.c")], check=True, capture_output=True)
    stdin = "".join(f"{m} {base} {len(p)} {p.hex() or '00'}\n" for m, base, p in cases)
    out = subprocess.run([str(tmp / "h")], input=stdin, capture_output=True, text=True, check=True)
    both = [line == "1" for line in out.stdout.split()]
    buffered, in_place = both[0::2], both[1::2]
    assert buffered == in_place, (expr, "the in-place (_kmem) variant disagrees with the buffered one")
    return buffered


def _differential(cc: str, tmp: Path, expr: str) -> None:
    """Translated C == libpcap on frames, bare IP packets and VXLAN-inner frames."""
    l3ok = compile_both(expr)[1] is not None
    cases: list[tuple[str, int, bytes]] = [("2", 0, p) for p in PACKETS]
    want = offline_matches(expr, Dlt.EN10MB, PACKETS)
    ips = [p[14:] for p in PACKETS if p[12:14] == b"\x08\x00"]
    cases += [("3", 0, p) for p in ips]
    want += offline_matches(expr, Dlt.RAW, ips) if l3ok else [False] * len(ips)
    vx = [p for p in PACKETS if len(p) > VX_INNER and p[23] == 17 and p[36:38] in (b"\x21\x18", b"\x12\xb5")]
    assert len(vx) == 2
    cases += [("2", VX_INNER, p) for p in vx]
    want += offline_matches(expr, Dlt.EN10MB, [p[VX_INNER:] for p in vx])
    got = _verdicts(cc, tmp, expr, cases)
    assert len(got) == len(cases)
    bad = [(m, base, p.hex()) for (m, base, p), g, w in zip(cases, got, want, strict=True) if g != w]
    assert not bad, (expr, bad)
    assert any(want) or "udp port 9" in expr or "not ip" in expr, expr  # the mix exercises the expression


EXPRESSIONS = ["icmp and host 10.244.1.3", "tcp port 80", "not icmp", "arp", "vlan", "vlan 5 and icmp",
               "udp port 8472", "tcp[tcpflags] & tcp-syn != 0 and not tcp[tcpflags] & tcp-ack != 0",
               "src net 10.244.0.0/24 and dst host 10.244.1.3", "ip[6:2] & 0x1fff != 0",
               "arp and arp[6:2] = 2", "ether broadcast", "ip6", "portrange 50-60 or udp port 9",
               "icmp[icmptype] = icmp-echoreply", "tcp dst port 8080 and ip[0] & 0xf > 5", "greater 100",
               "less 80 and icmp", "udp and len > 60"]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_translation_agrees_with_libpcap(cc: str, tmp_path: Path, expr: str) -> None:
    _differential(cc, tmp_path, expr)


_PRIM = st.sampled_from(["icmp", "tcp", "udp", "arp", "ip", "vlan", "host 10.244.1.3", "src host 10.244.0.2",
                         "port 80", "dst port 53", "net 192.168.56.0/24", "tcp port 40000", "udp port 8472",
                         "ether broadcast", "icmp[0] = 8", "ip[8] > 32", "greater 90", "less 60"])
_EXPR = st.recursive(_PRIM, lambda e: st.one_of(st.builds("not ({})".format, e),
                                                st.builds("({}) and ({})".format, e, e),
                                                st.builds("({}) or ({})".format, e, e)), max_leaves=5)


@settings(max_examples=25, deadline=None)
@given(expr=_EXPR)
def test_generated_expressions_agree_with_libpcap(cc: str, tmp_path_factory: pytest.TempPathFactory,
                                                  expr: str) -> None:
    tmp = tmp_path_factory.mktemp("gen")
    try:
        l3ok = compile_both(expr)[1] is not None
    except BrtraceError as exc:  # libpcap refuses e.g. 'icmp and tcp': "expression rejects all packets"
        assert "rejects all packets" in str(exc), exc
        assume(False)
    assert l3ok or any(w in expr for w in ("arp", "vlan", "ether"))
    cases = [("2", 0, p) for p in PACKETS]
    got = _verdicts(cc, tmp, expr, cases)
    assert got == offline_matches(expr, Dlt.EN10MB, PACKETS), expr


def test_recorded_program_has_bounded_loads_and_forward_gotos() -> None:
    c = translate(ICMP_HOST, "f", "icmp and host 1.2.3.4")
    lines = [s.strip() for s in c.splitlines()]
    loads = [i for i, s in enumerate(lines) if s.startswith("A = ((u32)HB(")]
    assert len(loads) == 4
    for i in loads:  # every packet read is checked against the bytes read just before it
        assert lines[i - 1].startswith("if (o + ") and lines[i - 1].endswith("> n) return 0;")
    assert "if (!(A == 2048U)) goto L9;" in lines and "return 262144U;" in lines
    for i, s in enumerate(lines):
        if "goto L" in s:
            label = s.split("goto ")[1].rstrip(";")
            assert lines.index(f"{label}: ;") > i  # forward only


@pytest.mark.parametrize(("expr", "why"), [
    ("ip protochain 6", "jumps backwards"),
    ("inbound", "ancillary field"),
    ("ifindex 3", "ancillary field"),
])
def test_untranslatable_expressions_are_refused_in_one_line(expr: str, why: str) -> None:
    with pytest.raises(BrtraceError) as exc:
        compile_both(expr)
    msg = str(exc.value)
    assert why in msg and expr in msg and "\n" not in msg
    assert exc.value.exit_code == 2


def test_refusals_on_recorded_programs() -> None:
    ret = Insn(0x06, 0, 0, 0)
    with pytest.raises(BrtraceError, match="backwards"):
        check([Insn(0x05, 0, 0, 0xFFFFFFFE), ret], "loop")
    with pytest.raises(BrtraceError, match="ancillary"):
        check([Insn(0x20, 0, 0, 0xFFFFF000 + 44), ret], "ifindex")
    with pytest.raises(BrtraceError, match="past the end"):
        check([Insn(0x15, 5, 0, 1), ret], "far")
    with pytest.raises(BrtraceError, match="empty"):
        check([], "nothing")
    check(ICMP_HOST, "icmp and host 1.2.3.4")


def test_bad_expression_is_libpcaps_one_line() -> None:
    with pytest.raises(BrtraceError, match="tcp port foo.*unknown port"):
        compile_both("tcp port foo")


def test_no_expression_is_an_empty_header() -> None:
    h = filter_header(None, None, None, False)
    assert "BRT_PCAP_FILTER" not in h and "#ifndef BRT_FILTER_H" in h
    l2, l3 = compile_both("arp")
    assert l3 is None  # arp means nothing on a bare IP packet: L3-only hooks never match it
    h = filter_header("arp", l2, l3, True)
    assert "BRT_PCAP_INNER" in h and "BRT_PCAP_L3" not in h and "brt_pcap_l2" in h
