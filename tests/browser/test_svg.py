"""The exported SVG/HTML of real recordings, rendered by the same headless chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import png_colours
from tests.unit.test_svg_export import book_of
from tracer.cli.main import main
from tracer.render.svg_marks import REPLY, REQUEST, hop_label

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _export(tmp_path: Path, sample: str, fmt: str, *extra: str) -> Path:
    out = tmp_path / f"{Path(sample).stem}.{fmt}"
    assert main(["export", str(SAMPLES / sample), f"--{fmt}", str(out), *extra]) == 0
    return out


def test_flannel_svg_shows_every_hop_in_two_colours(page: Any, browser: Any, tmp_path: Path) -> None:
    svg = _export(tmp_path, "flannel-ping.brt", "svg")
    page.goto(svg.as_uri())
    text = page.locator("svg").text_content() or ""
    p = book_of(SAMPLES / "flannel-ping.brt").packets[1]
    assert len(p.request) >= 14 and len(p.reply) >= 14
    for direction, hops in ((REQUEST, p.request), (REPLY, p.reply)):
        for h in hops:
            assert hop_label(direction, h) in text, hop_label(direction, h)
    assert page.locator("g.hop.request").count() == len(p.request)
    assert page.locator("g.hop.reply").count() == len(p.reply)
    for name in ("pod-a", "pod-b", "node1", "node2", "veth-pod-a port of cni0", "VXLAN vni 1"):
        assert name in text
    fills = page.evaluate("""() => [
        getComputedStyle(document.querySelector('g.hop.request circle')).fill,
        getComputedStyle(document.querySelector('g.hop.reply rect')).fill]""")
    assert fills[0] != fills[1] and all(f.startswith("rgb(") for f in fills), fills
    assert "encapsulated" in text and "decapsulated" in text and "routed" in text
    assert page.locator("g.drop-mark").count() == 0
    box = page.locator("svg").bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 400
    width, height, colours = png_colours(browser, page.locator("svg").screenshot())
    assert width > 400 and height > 400 and colours > 4, (width, height, colours)


def test_drop_sample_shows_the_drop_mark(page: Any, tmp_path: Path) -> None:
    page.goto(_export(tmp_path, "bridge-drop.brt", "svg").as_uri())
    mark = page.locator("g.drop-mark")
    assert mark.count() == 1 and mark.is_visible()
    assert "DROP" in (mark.text_content() or "") and "br_handle_frame" in (mark.text_content() or "")


def test_html_page_has_picture_and_hop_table(page: Any, tmp_path: Path) -> None:
    html = _export(tmp_path, "docker-nat.brt", "html")
    page.goto(html.as_uri())
    p = book_of(SAMPLES / "docker-nat.brt").packets[1]
    rows = page.locator("table.hops tr")
    assert rows.count() == 1 + len(p.request) + len(p.reply)
    assert page.locator("svg g.hop").count() == len(p.request) + len(p.reply)
    assert "NAT" in (page.locator("svg").text_content() or "")
    assert "conntrack translates it" in page.locator("table.hops").inner_text()


@pytest.mark.parametrize("sample", ["arp-fdb.brt", "docker-nat.brt"])
def test_every_sample_renders(page: Any, tmp_path: Path, sample: str) -> None:
    page.goto(_export(tmp_path, sample, "svg").as_uri())
    assert page.locator("g.hop").count() >= 2
