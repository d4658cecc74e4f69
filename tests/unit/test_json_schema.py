"""One documented JSON schema for ping/trace/replay, checked on real recordings (issue 20, item 6).

Every ``replay --json`` line of every recording in ``samples/`` and
``tests/data/faults/`` is validated against ``docs/brtrace-json.schema.json``;
the fields a reviewer needs are compared with what the captured bytes say.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from tracer.cli.main import main
from tracer.headers import decode
from tracer.jsonout import WallClock

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs/brtrace-json.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
RECORDINGS = sorted((ROOT / "samples").glob("*.brt")) + sorted((ROOT / "tests/data/faults").glob("*.brt"))


def replay_json(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    rc = main(["replay", str(path), "--json"])
    out = capsys.readouterr().out
    return rc, [json.loads(line) for line in out.splitlines()]


def validate(lines: list[dict[str, Any]]) -> None:
    for obj in lines:
        errors = sorted(VALIDATOR.iter_errors(obj), key=lambda e: list(e.absolute_path))
        assert not errors, (obj.get("type"), [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors])


def test_schema_is_valid_and_can_fail() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert not VALIDATOR.is_valid({"type": "packet"}), "a record without its fields must fail"
    assert not VALIDATOR.is_valid({"schema_version": 2, "type": "summary"})


@pytest.mark.parametrize("rec", RECORDINGS, ids=lambda p: p.name)
def test_replay_json_validates(rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines = replay_json(rec, capsys)
    assert rc == 0 and lines
    validate(lines)
    *packets, summary = lines
    assert all(p["type"] == "packet" and p["command"] == "replay" for p in packets)
    assert summary["type"] == "summary" and summary["packets"] == len(packets) > 0
    assert summary["damage"] is None and summary["time_source"] == "recording"
    assert [p["packet"] for p in packets] == list(range(1, len(packets) + 1))
    for p in packets:
        for h in p["request"] + p["reply"]:
            _hop_matches_its_headers(h)
        if p["status"] != "delivered" and p["seq"] is not None:
            d = p["diagnosis"]
            assert d["cause"] and d["checks"] == d["evidence"], d


def _hop_matches_its_headers(h: dict[str, Any]) -> None:
    """The flat fields say what the decoded headers say (the inner packet when encapsulated)."""
    ips = [x for x in h["headers"] if x["layer"] in ("ipv4", "ipv6") and not x.get("truncated")]
    if not ips or h["verb"] == "route":
        return
    inner = ips[-1]
    assert (h["src"], h["dst"], h["proto"]) == (inner["src"], inner["dst"], inner["proto"]), h
    icmp = [x for x in h["headers"] if x["layer"] in ("icmp", "icmpv6")]
    if icmp and "id" in icmp[-1]:
        assert (h["icmp"]["id"], h["icmp"]["seq"]) == (icmp[-1]["id"], icmp[-1]["seq"])
    if h["outer"] is not None:
        assert (h["outer"]["src"], h["outer"]["dst"]) == (ips[0]["src"], ips[0]["dst"])
    assert h["time"] is not None and h["ts_ns"] > 0


def test_flannel_hops_carry_time_ports_and_outer_header(capsys: pytest.CaptureFixture[str]) -> None:
    _, lines = replay_json(ROOT / "samples/flannel-ping.brt", capsys)
    probes = [p for p in lines if p["type"] == "packet" and p["seq"] is not None]
    assert [p["seq"] for p in probes] == [1, 2, 3]
    p = probes[0]
    assert p["status"] == "delivered" and p["rtt_ns"] > 0 and p["proto"] == "icmp"
    encap = [h for h in p["request"] if h["outer"] is not None]
    assert encap, "the underlay hops show the outer header"
    for h in encap:
        o = h["outer"]
        assert (o["src"], o["dst"], o["proto"], o["dport"], o["vni"]) == (
            "192.168.50.11", "192.168.50.12", "udp", 8472, 1)
        assert [x["layer"] for x in h["headers"]][:4] == ["ethernet", "ipv4", "udp", "vxlan"]
        assert {x.get("encapsulated") for x in h["headers"][4:]} == {1}
    hops = p["request"] + p["reply"]
    times = [h["ts_ns"] for h in hops]
    assert times == sorted(times)
    assert all(h["time"].startswith("2026-") for h in hops)
    assert hops[0]["time"] == p["time"] and hops[0]["ts_ns"] == p["ts_ns"]
    sent = next(h for h in p["request"] if h["verb"] == "send")
    assert sent["icmp"] == {"type": 8, "code": 0, "id": p["id"], "seq": 1}
    assert sent["src"] == p["src"] == "10.244.0.2" and sent["dst"] == p["dst"] == "10.244.1.3"


def test_bridge_drop_diagnosis_and_culprit(capsys: pytest.CaptureFixture[str]) -> None:
    _, lines = replay_json(ROOT / "samples/bridge-drop.brt", capsys)
    p = lines[0]
    assert p["status"] == "dropped" and p["drop"]["dev"] == "veth10"
    d = p["diagnosis"]
    assert d["kind"] == "bridge-port-blocked" and "STP state 'disabled'" in d["cause"]
    assert d["fix"].endswith("bridge link set dev veth20 state 3")
    assert "veth20: link up, bridge port state disabled" in d["checks"]
    assert d["culprit"] == {"netns": "bridge-host", "dev": "veth20"}
    assert lines[-1]["dropped"] == 1


def test_wall_clock() -> None:
    c = WallClock.recording(1700000000.5, 1_000)
    assert c.iso(1_000) == "2023-11-14T22:13:20.500000000Z"
    assert c.iso(1_000 + 1_234) == "2023-11-14T22:13:20.500001234Z"
    assert WallClock.recording(0.0, None).iso(5) is None
    assert WallClock.live().source == "live"


# -- the header decoder behind "headers" --------------------------------------

def test_decode_vlan_tcp_and_arp() -> None:
    tcp = bytes(Ether() / Dot1Q(vlan=42) / IP(src="10.0.0.1", dst="10.0.0.2")
                / TCP(sport=1, dport=2, flags="SA"))
    layers = decode(tcp)
    assert [x["layer"] for x in layers] == ["ethernet", "vlan", "ipv4", "tcp"]
    assert layers[1]["id"] == 42 and layers[3]["flags"] == "SA" and layers[3]["dport"] == 2
    arp = decode(bytes(Ether() / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.2")))
    assert arp[1] == {"layer": "arp", "op": "request", "sender_mac": arp[1]["sender_mac"],
                      "sender_ip": "10.0.0.1", "target_mac": "00:00:00:00:00:00", "target_ip": "10.0.0.2"}


def test_decode_vxlan_inner_and_truncation() -> None:
    frame = bytes(Ether() / IP(src="192.168.0.1", dst="192.168.0.2") / UDP(sport=9, dport=8472)
                  / VXLAN(vni=7) / Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5, dport=6))
    layers = decode(frame)
    assert [(x["layer"], x.get("encapsulated")) for x in layers] == [
        ("ethernet", None), ("ipv4", None), ("udp", None), ("vxlan", None),
        ("ethernet", 1), ("ipv4", 1), ("udp", 1)]
    assert layers[3]["vni"] == 7
    cut = decode(frame[:60])  # inside the inner Ethernet header
    assert cut[-1] == {"layer": "ethernet", "truncated": True, "encapsulated": 1}
    assert decode(b"") == [{"layer": "ethernet", "truncated": True}]
    assert decode(bytes(IP(src="1.2.3.4", dst="5.6.7.8") / UDP()), l3=True)[0]["src"] == "1.2.3.4"
    for n in range(len(frame)):  # any cut decodes without raising
        decode(frame[:n])


def test_streamed_trace_json_validates() -> None:
    """``trace --json`` prints each journey as it completes (tracer/render/stream.py)."""
    import io

    from tests.support.synth import flannel_batch
    from tracer.correlate import Correlator
    from tracer.render.stream import PacketPrinter
    from tracer.schema.decode import Decoder
    from tracer.topology.model import Topology

    corr, out = Correlator(), io.StringIO()
    printer = PacketPrinter(Topology(namespaces=()), as_json=True, out=out,
                            clock=WallClock.recording(1700000000.0, 0))
    corr.feed(Decoder().decode(flannel_batch(18 * 5)))
    printer.show(corr.flush())
    printer.summary(events=18 * 5, lost=0, evicted=corr.evicted)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    validate(lines)
    *packets, summary = lines
    assert len(packets) == printer.printed > 0 and summary["packets"] == len(packets)
    assert all(p["command"] == "trace" and p["time"] for p in packets)
