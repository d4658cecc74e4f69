"""The SVG/HTML picture of one packet, on the recorded samples (no browser needed)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from tracer.cli.main import main
from tracer.correlate import Correlator
from tracer.correlate.pairing import PacketBook
from tracer.correlate.vocab import Verb
from tracer.record import open_recording
from tracer.render.svg import PacketPicture, render_svg
from tracer.render.svg_headers import DECAP, ENCAP, NAT, ROUTED, header_changes
from tracer.render.svg_html import render_html
from tracer.topology.model import Topology

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
NS = "{http://www.w3.org/2000/svg}"


def book_of(path: Path) -> PacketBook:
    with open_recording(path) as rec:
        corr, book = Correlator(), PacketBook(rec.info.topology)
        for batch in rec.batches():
            book.update(corr, corr.feed(batch))
        book.update(corr, set(), final=True)
    return book


def _picture(sample: str, pid: int = 1) -> tuple[Topology, PacketPicture]:
    book = book_of(SAMPLES / sample)
    p = book.packets[pid]
    return book.topo, PacketPicture(f"packet {pid}", sample, p.request, p.reply)


def _classes(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def test_flannel_svg_is_valid_xml_with_one_marker_per_hop() -> None:
    topo, pic = _picture("flannel-ping.brt")
    root = ET.fromstring(render_svg(topo, pic))
    assert root.tag == f"{NS}svg" and float(root.get("width", 0)) > 400
    req, rep = _classes(root, "request"), _classes(root, "reply")
    assert len([g for g in req if "hop" in g.get("class", "").split()]) == len(pic.request) == 15
    assert len([g for g in rep if "hop" in g.get("class", "").split()]) == len(pic.reply) == 16
    labels = [g.get("data-hop") for g in _classes(root, "hop")]
    assert labels[0] == "→1 pod-a/eth0 route" and "←14 pod-a/eth0 deliver" in labels
    rows = [e.text for e in _classes(root, "hop-label")]
    assert rows == labels  # the list names every hop as its marker does
    devices = {e.text for e in _classes(root, "device")}
    assert {"veth-pod-a port of cni0", "flannel.1 vxlan 1 10.244.0.0/32", "eth0 10.244.1.3/24"} <= devices
    assert {g.get("data-netns") for g in _classes(root, "node")} == {"node1", "node2"}
    assert {g.get("data-netns") for g in _classes(root, "pod")} == {"pod-a", "pod-b"}
    assert not _classes(root, "drop-mark")


def test_flannel_headers_change_at_routing_encap_and_decap() -> None:
    _, pic = _picture("flannel-ping.brt")
    changes = header_changes(pic.request)
    assert [(c.hop.netns, c.hop.dev, c.why) for c in changes] == [
        ("node1", "flannel.1", (ROUTED,)), ("node1", "eth0", (ENCAP,)),
        ("node2", "flannel.1", (DECAP,)), ("node2", "cni0", (ROUTED,))]
    encap = changes[1]
    assert not encap.before.outer
    assert encap.after.outer[0].startswith("outer IP 192.168.50.11 → 192.168.50.12")
    assert "UDP :8472 VNI 1" in encap.after.outer[0]
    assert (changes[0].before.ttl, changes[0].after.ttl) == (64, 63)
    assert changes[0].before.eth != changes[0].after.eth


def test_nat_is_named_with_the_rewritten_addresses() -> None:
    topo, pic = _picture("docker-nat.brt")
    changes = header_changes(pic.request)
    nat = [c for c in changes if NAT in c.why]
    assert nat and nat[0].before.ip == "192.168.88.2 → 198.51.100.1"
    assert nat[0].after.ip == "198.51.100.2 → 198.51.100.1"
    root = ET.fromstring(render_svg(topo, pic))
    cards = _classes(root, "header-change")
    assert len(cards) == len(changes) + len(header_changes(pic.reply))
    assert "outside" in {g.get("data-netns") for g in _classes(root, "netns")}


def test_drop_is_marked_with_reason_and_location() -> None:
    topo, pic = _picture("bridge-drop.brt")
    root = ET.fromstring(render_svg(topo, pic))
    marks = _classes(root, "drop-mark")
    assert len(marks) == 1
    text = "".join(marks[0].itertext())
    drop = pic.request[-1]
    assert drop.verb == Verb.DROP and f"DROP {drop.reason} at {drop.location}" == text


def test_svg_stands_alone_and_is_deterministic() -> None:
    topo, pic = _picture("flannel-ping.brt")
    svg = render_svg(topo, pic)
    assert svg == render_svg(topo, pic)
    assert "<script" not in svg and "@font-face" not in svg and "url(http" not in svg
    assert svg.count("http") == 1  # the SVG namespace only
    fonts = {e.get("font-family") for e in ET.fromstring(svg).iter() if e.get("font-family")}
    assert fonts <= {"monospace", "sans-serif"}


def test_hostile_names_stay_inert_and_valid_xml() -> None:
    topo, pic = _picture("bridge-drop.brt")
    evil = "<b>&\x1b[31m\u202e"
    hops = tuple(replace(h, netns=evil, dev=evil, action=evil) for h in pic.request)
    svg = render_svg(topo, replace(pic, title=evil, request=hops))
    root = ET.fromstring(svg)  # parses: no raw control character, no stray markup
    assert "\x1b" not in svg and "\u202e" not in svg and "<b>" not in svg
    assert any("\\x1b" in (e.text or "") for e in root.iter())
    ET.fromstring(render_html(topo, replace(pic, request=hops)).split('<div class="picture">\n')[1]
                  .split("</div>")[0])


def test_export_cli_writes_svg_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svg, html = tmp_path / "p.svg", tmp_path / "p.html"
    sample = str(SAMPLES / "flannel-ping.brt")
    assert main(["export", sample, "--svg", str(svg), "--html", str(html), "--packet", "2"]) == 0
    assert ET.parse(svg).getroot().tag == f"{NS}svg"
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count('<tr class="request">') == 15
    assert "packet 2: icmp seq 2" in svg.read_text()
    assert main(["export", sample, "--svg", str(tmp_path / "x.svg"), "--packet", "9"]) == 2
    assert main(["export", sample, "--svg", str(tmp_path / "no" / "x.svg")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "drew packet 2 (31 hops)" in err[0]
    assert err[-2] == f"brtrace: {sample} has 3 packets; there is no packet 9"
    assert err[-1].startswith("brtrace: cannot write ") and not list(tmp_path.glob("**/*.part"))


def _plain_pair() -> Topology:
    """Two namespaces joined by a bare veth pair: no bridge, so no node and no pod."""
    from tracer.topology.model import Address, Link, Netns, PeerRef

    a = Netns("brt-a", 11, (Link(2, "veth0", "veth", peer=PeerRef(12, 2),
                                 addresses=(Address("10.9.0.1", 24),)),))
    b = Netns("brt-b", 12, (Link(2, "veth1", "veth", peer=PeerRef(11, 2),
                                 addresses=(Address("10.9.0.2", 24),)),))
    return Topology((a, b))


def test_namespaces_outside_any_node_are_drawn_and_wired() -> None:
    from tracer.correlate.journey import Hop

    hops = (Hop(1, 0, "a", "veth0", "veth", Verb.SEND, "sent from a", netns_inode=11, ifindex=2),
            Hop(2, 10, "b", "veth1", "veth", Verb.DELIVER, "delivered", netns_inode=12, ifindex=2))
    root = ET.fromstring(render_svg(_plain_pair(), PacketPicture("t", "s", hops)))
    boxes = {g.get("data-netns"): g for g in _classes(root, "netns")}
    assert set(boxes) == {"a", "b"} and len(_classes(root, "hop")) == 2
    rights = [float(next(iter(g)).get("x", 0)) + float(next(iter(g)).get("width", 0)) for g in boxes.values()]
    lefts = [float(next(iter(g)).get("x", 0)) for g in boxes.values()]
    assert min(lefts) == 10  # nothing reserved for nodes that are not there
    assert float(root.get("height", 0)) < 400  # stacked from the top, not placed past the end
    wire = _classes(root, "veth")[0]
    xs = [float(p.split()[0]) for p in next(iter(wire)).get("d", "")[2:].split(" L ")]
    assert max(xs) > max(rights) and float(root.get("width", 0)) > max(xs)  # a lane beyond both boxes
    assert "veth" in "".join(wire.itertext())


def test_arp_headers_name_arp_not_ip() -> None:
    from tracer.model import ETH_P_ARP, Event, Hook, L4Key
    from tracer.render.svg_headers import header_view

    key = L4Key(saddr=0x0B0010AC, daddr=0x150010AC)
    ev = Event(1, 0, Hook.NET_DEV_QUEUE, 1, 11, 2, "veth11", 42, "4e:65:c0:4a:60:d6",
               "ff:ff:ff:ff:ff:ff", ETH_P_ARP, outer=key)
    assert header_view(ev).lines() == ["eth 4e:65:c0:4a:60:d6 → ff:ff:ff:ff:ff:ff",
                                       "ARP 172.16.0.11 → 172.16.0.21"]


def test_pods_off_the_path_are_left_out_and_counted() -> None:
    topo, pic = _picture("docker-nat.brt")  # ns0 → outside: ns1 hangs off the same bridge
    root = ET.fromstring(render_svg(topo, pic))
    assert {g.get("data-netns") for g in _classes(root, "pod")} == {"ns0"}
    node = _classes(root, "node")[0]
    assert node.get("data-netns") == "docker-host"
    assert "1 other pod not on the path" in "".join(node.itertext())
