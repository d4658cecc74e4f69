"""ARP as ARP (issue 21 item 2): samples/arp-fdb.brt's heading, count, story and route lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.cli.main import main
from tracer.correlate import Correlator, build_hops
from tracer.correlate.vocab import Verb
from tracer.record.reader import open_recording

SAMPLE = Path(__file__).resolve().parents[2] / "samples/arp-fdb.brt"


def _out(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["replay", str(SAMPLE), *args]) == 0
    return capsys.readouterr().out


def test_plain_heading_says_arp_and_one_probe(capsys: pytest.CaptureFixture[str]) -> None:
    out = _out(capsys, "--plain")
    heads = [ln for ln in out.splitlines() if ln and not ln.startswith(" ")]
    assert heads[0].startswith("arp who-has 172.16.0.21 tell 172.16.0.11  ")
    assert "→ ff:ff:ff:ff:ff:ff" in heads[0]
    assert heads[1].startswith("arp 172.16.0.21 is-at 82:09:c1:36:f3:45  ")
    assert heads[2].startswith(
        "probe seq 1  icmp id 0x20cd  nns1 (172.16.0.11) → nns2 (172.16.0.21)  DELIVERED")
    assert "icmp id 0x0000" not in out and "seq 0" not in out
    assert heads[-1].startswith("1 probes: 1 delivered, 0 dropped, 0 unanswered;")
    assert heads[-1].endswith("; 2 ARP frames")


def test_route_lookup_belongs_to_the_icmp_not_the_arp() -> None:
    """The ping's route lookup in nns1 came before the ARP request it caused: it is the echo's."""
    rec = open_recording(SAMPLE)
    corr = Correlator()
    for batch in rec.batches():
        corr.feed(batch)
    topo = rec.info.topology
    arp = [build_hops(j, topo) for j in corr.journeys.values() if j.key[0] == "arp"]
    echo = corr.icmp_journey(8, 0x20CD, 1)
    assert len(arp) == 2 and echo is not None
    for hops in arp:
        assert not [h for h in hops if h.verb == Verb.ROUTE and h.netns == "nns1"]
    first = build_hops(echo, topo)[0]
    assert (first.verb, first.netns) == (Verb.ROUTE, "nns1")
    assert "172.16.0.21 matches 172.16.0.0/24 dev veth11" in first.action


def test_flooded_copy_arrives_once() -> None:
    """netif_rx and netif_receive_skb of the flooded copy on veth21 are one hop, though the
    original's br0 events come between them."""
    rec = open_recording(SAMPLE)
    corr = Correlator()
    for batch in rec.batches():
        corr.feed(batch)
    who_has = next(j for j in corr.journeys.values() if j.key[:2] == ("arp", 1))
    hops = build_hops(who_has, rec.info.topology)
    assert sum(1 for h in hops if h.verb == Verb.DELIVER) == 1


def test_explain_tells_broadcast_flooding_and_fdb_learning(capsys: pytest.CaptureFixture[str]) -> None:
    flat = " ".join(_out(capsys, "--explain").split())
    assert "arp who-has 172.16.0.21 tell 172.16.0.11: delivered" in flat
    assert "who has 172.16.0.21? Tell 172.16.0.11 at 4e:65:c0:4a:60:d6" in flat
    assert "ff:ff:ff:ff:ff:ff is the broadcast address, so bridge br0 floods the ARP request" in flat
    assert "Bridge br0 learned that MAC 4e:65:c0:4a:60:d6 lives behind port veth10" in flat
    assert "the kernel itself answers with an ARP reply" in flat
    assert "172.16.0.21 is at 82:09:c1:36:f3:45" in flat
    assert "routing a frame" not in flat and "waiting socket" not in flat
    assert flat.endswith("1 probes: 1 delivered, 0 dropped, 0 unanswered; 45 events, 0 lost; 2 ARP frames")


def test_explain_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    out = _out(capsys, "--explain", "--lang", "zh")
    assert out.startswith("ARP 询问：谁是 172.16.0.21？请告诉 172.16.0.11：已送达")
    flat = "".join(out.split())
    assert "网桥br0泛洪这个ARP请求" in flat and "FDB学习" in flat
    assert "1个探测：1个送达，0个丢弃，0个无应答；45个事件，丢失0个；ARP帧2个" in flat
    assert "request:" not in out and "delivered" not in out


def test_trace_text_says_arp_too() -> None:
    """``brtrace trace`` prints each journey: an ARP frame by its words, not its key's numbers."""
    import io

    from tracer.render.stream import PacketPrinter

    rec = open_recording(SAMPLE)
    corr = Correlator()
    for batch in rec.batches():
        corr.feed(batch)
    out = io.StringIO()
    PacketPrinter(rec.info.topology, False, out).show(corr.flush())
    heads = [ln for ln in out.getvalue().splitlines() if ln.startswith("packet ")]
    assert heads[:2] == [
        "packet arp who-has 172.16.0.21 tell 172.16.0.11  4e:65:c0:4a:60:d6 → ff:ff:ff:ff:ff:ff",
        "packet arp 172.16.0.21 is-at 82:09:c1:36:f3:45  82:09:c1:36:f3:45 → 4e:65:c0:4a:60:d6"]
    assert heads[2].startswith("packet 3  icmp echo request id ")  # ping's packet line (issue 17)
