"""IPv6 endpoints are named wherever IPv4's are: replay's headings, trace's packet lines.

``ping`` heads a probe ``pod-a (addr) → pod-b (addr)`` from the live topology;
``replay`` names them from the recording's snapshot, which holds both families'
addresses, and ``trace`` says what an ICMPv6 packet is as it says ICMP's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.cli.main import main
from tracer.correlate.pairing import Packet
from tracer.model import IPPROTO_ICMP, IPPROTO_ICMPV6, L4Key
from tracer.record import open_recording
from tracer.render.text import named, packet_line

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
A6 = bytes.fromhex("fd000010024400000000000000000002")
B6 = bytes.fromhex("fd000010024400010000000000000003")


def _heads(capsys: pytest.CaptureFixture[str], sample: str, *args: str) -> list[str]:
    assert main(["replay", str(SAMPLES / sample), *args]) == 0
    return [ln for ln in capsys.readouterr().out.splitlines() if ln and not ln.startswith(" ")]


@pytest.mark.parametrize(("sample", "head"), [
    ("ipv6-ping.brt", "probe seq 1  icmp id 0xb7d5  pod-a (fd00:10:244::2) → pod-b (fd00:10:244:1::3)  "),
    ("flannel-ping.brt", "probe seq 1  icmp id 0xb78d  pod-a (10.244.0.2) → pod-b (10.244.1.3)  "),
])
def test_replay_names_the_endpoints_of_either_family(capsys: pytest.CaptureFixture[str], sample: str,
                                                      head: str) -> None:
    assert _heads(capsys, sample, "--plain")[0].startswith(head)


def test_replay_explain_names_ipv6_endpoints(capsys: pytest.CaptureFixture[str]) -> None:
    assert _heads(capsys, "ipv6-ping.brt", "--explain")[0] == (
        "pod-a (fd00:10:244::2) → pod-b (fd00:10:244:1::3): delivered")


def test_an_address_no_workload_owns_stays_bare() -> None:
    with open_recording(SAMPLES / "ipv6-ping.brt") as rec:
        topo = rec.info.topology
    assert named("fd00:10:244:1::3", topo) == "pod-b (fd00:10:244:1::3)"
    assert named("fd00:99::1", topo) == "fd00:99::1" and named("fd00:99::1", None) == "fd00:99::1"


def _key(proto: int, icmp_type: int, v6: bool) -> L4Key:
    return L4Key(2, 3, proto, 77, 64, 0xB7D5, 1, icmp_type, 0, A6 if v6 else b"", B6 if v6 else b"")


def test_trace_says_what_an_icmpv6_packet_is_as_it_does_for_icmp() -> None:
    with open_recording(SAMPLES / "ipv6-ping.brt") as rec:
        topo = rec.info.topology
    p = Packet(1, "x")
    v4 = packet_line(1, p, _key(IPPROTO_ICMP, 8, False), None)
    v6 = packet_line(1, p, _key(IPPROTO_ICMPV6, 128, True), topo)
    assert "  icmp echo request id 0xb7d5 seq 1  " in v4 and "ip id 77" in v4
    assert v6.startswith("packet 1  icmpv6 echo request id 0xb7d5 seq 1  "
                         "pod-a (fd00:10:244::2) → pod-b (fd00:10:244:1::3)  "), v6
    assert "ip id" not in v6  # IPv6 has none; the key's ip_id is the flow label's low bits
    assert "  icmpv6 echo reply id" in packet_line(2, p, _key(IPPROTO_ICMPV6, 129, True), topo)
    assert "  ndp neighbor-solicitation  " in packet_line(3, p, _key(IPPROTO_ICMPV6, 135, True), topo)
    assert "  icmpv6 type 1 code 0  " in packet_line(4, p, _key(IPPROTO_ICMPV6, 1, True), topo)


def test_explain_says_an_icmpv6_echo_is_an_echo(capsys: pytest.CaptureFixture[str]) -> None:
    """The teaching text called the ICMPv6 echo 'the packet' where it says ICMP's is an echo."""
    assert main(["replay", str(SAMPLES / "ipv6-ping.brt"), "--explain"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "pod-a sends the ICMP echo request to fd00:10:244:1::3 out of eth0" in out
    assert "pod-b sends its echo reply to fd00:10:244::2 out of eth0" in out, out


def test_a_leading_lookup_of_another_flow_does_not_set_the_packets_protocol() -> None:
    """iputils ping connects a UDP socket to the destination first (to choose its source):
    that lookup, kept for the address, may lead the journey; the packet is still ICMP."""
    from dataclasses import replace

    from tracer.correlate import Correlator
    from tracer.correlate.pairing import probe_packet
    from tracer.jsonout import packet_record
    from tracer.model import IPPROTO_UDP

    with open_recording(SAMPLES / "flannel-ping.brt") as rec:
        topo, events = rec.info.topology, rec.events()
    first = next(i for i, e in enumerate(events) if e.route is not None)
    events[first] = replace(events[first], outer=replace(events[first].outer, proto=IPPROTO_UDP))
    corr = Correlator()
    corr.feed(events)
    p = probe_packet(corr, topo, 0xB78D, 1)
    assert p.request[0].verb == "route" and p.request[0].netns == "pod-a"
    assert packet_record("replay", 1, p, topo)["proto"] == "icmp"
