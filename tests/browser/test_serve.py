"""``brtrace serve`` in a real browser: the TUI of a replay loads, renders and takes keys."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.browser.conftest import (
    ROOT,
    group_alive,
    png_colours,
    serving,
    stop_server,
    wait_for_text,
    watch_terminal,
)

SAMPLE = str(ROOT / "samples" / "flannel-ping.brt")
CAPTION = re.compile(r"#(\d+) icmp seq \d+ id 0x[0-9a-f]+ (request|reply) [→←] hop (\d+)/(\d+)")


def _caption(page: Any, want: str, timeout_s: float = 15.0) -> tuple[int, str, int]:
    """(packet, direction, hop) of the map's caption once it matches ``want`` (a regex)."""
    text = wait_for_text(page, "topology", timeout_s=timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        m = CAPTION.search(" ".join(text.split()))
        if m and re.search(want, m.group(0)):
            return int(m.group(1)), m.group(2), int(m.group(3))
        if time.monotonic() > deadline:
            raise AssertionError(f"caption never matched {want!r}: {m.group(0) if m else text[:400]}")
        time.sleep(0.2)
        text = wait_for_text(page, "topology")


def test_served_replay_renders_and_moves_with_keys(page: Any, browser: Any, tmp_path: Path) -> None:
    watch_terminal(page)
    with serving(SAMPLE, tmp=tmp_path) as (url, pgid):
        page.goto(url)
        # The map (devices of both nodes, the tunnel) and the hop table (actions) are on the page.
        wait_for_text(page, "topology", "packets", "journey", "hop detail", "veth-pod-a port of cni0",
                      "flannel.1 vxlan 1", "VXLAN", "icmp seq 1", "route lookup in")
        page.evaluate("() => window.brtraceTerminal.focus()")
        for _ in range(3):
            page.keyboard.press("p")
        assert _caption(page, r"^#1 .* request → hop 1/") == (1, "request", 1)
        page.keyboard.press("j")
        assert _caption(page, r"hop 2/") == (1, "request", 2)
        page.keyboard.press("j")
        assert _caption(page, r"hop 3/") == (1, "request", 3)
        page.keyboard.press("n")
        assert _caption(page, r"^#2 ")[0] == 2
        shot = page.screenshot()
        w, h, colours = png_colours(browser, shot)
        assert (w, h) == (1500, 950) and colours > 8, (w, h, colours)
        assert "veth-pod-b" in wait_for_text(page, "veth-pod-b")  # text via DOM, not pixels
        stop_server(pgid)  # the server ends the tab's app itself: nothing of its group is left
    assert not group_alive(pgid)


def test_served_replay_can_start_in_teaching_mode(page: Any, tmp_path: Path) -> None:
    """A teacher serves the recording with explanations on: the hop detail explains the hop."""
    from tests.unit.test_svg_export import book_of
    from tracer.explain import explain

    last = book_of(Path(SAMPLE)).packets[3].reply[-1]
    words = " ".join(explain(last, "en").split()[:6])  # the start of the explanation, on one row
    watch_terminal(page)
    with serving("replay", SAMPLE, "--explain", tmp=tmp_path) as (url, pgid):
        page.goto(url)
        wait_for_text(page, "hop detail", words)
    assert not group_alive(pgid)
