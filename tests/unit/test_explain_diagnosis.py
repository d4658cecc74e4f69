"""Explain mode knows as much as --plain about a drop: cause, checks, culprit, fix (issue 20, item 1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracer.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
FAULTS = sorted((ROOT / "tests/data/faults").glob("*.brt"))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    rc = main(["replay", *args])
    return rc, capsys.readouterr().out


def test_bridge_drop_explained_with_diagnosis(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, str(ROOT / "samples/bridge-drop.brt"), "--explain")
    assert rc == 0
    assert "Why it was dropped" in out
    flat = " ".join(out.split())
    assert "cause: bridge port veth20 of br0 in bridge-host is in STP state 'disabled'" in flat
    assert "checked: veth20: link up, bridge port state disabled" in flat
    assert "the device at fault: bridge-host/veth20" in flat
    fix = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("fix:")]
    assert fix == ["fix: ip netns exec brt-bridge-host bridge link set dev veth20 state 3"], "one line"
    rc, zh = run(capsys, str(ROOT / "samples/bridge-drop.brt"), "--explain", "--lang", "zh")
    assert "为什么被丢弃" in zh
    assert "修复: ip netns exec brt-bridge-host bridge link set dev veth20 state 3" in zh


@pytest.mark.parametrize("rec", FAULTS, ids=lambda p: p.stem)
def test_every_fault_recording_explains_its_diagnosis(rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, plain = run(capsys, str(rec), "--plain")
    _, explained = run(capsys, str(rec), "--explain")
    causes = [ln.split("cause: ", 1)[1] for ln in plain.splitlines() if ln.strip().startswith("cause: ")]
    fixes = [ln.split("fix: ", 1)[1] for ln in plain.splitlines() if ln.strip().startswith("fix: ")]
    assert causes, f"{rec.name}: --plain has a diagnosis"
    flat = " ".join(explained.split())
    for cause in causes:
        assert f"cause: {' '.join(cause.split())}" in flat
    for fix in fixes:
        assert f"fix: {fix}" in explained


def test_delivered_probes_have_no_diagnosis(capsys: pytest.CaptureFixture[str]) -> None:
    _, out = run(capsys, str(ROOT / "samples/flannel-ping.brt"), "--explain")
    assert "Why it was dropped" not in out and "cause:" not in out


# Two lowercase ASCII words in a row are English prose; names (veth20, br0,
# NO_TX_TARGET, net.ipv4.ip_forward, "dev flannel.1" in a route) never are. The
# fix is a command: left out.
PROSE = re.compile(r"(?<![\w.-])[a-z]{2,} [a-z]{2,}(?![\w.-])")
CJK = re.compile(r"[\u4e00-\u9fff]")
DROPS = [*FAULTS, ROOT / "samples/bridge-drop.brt"]


def _zh_clean(text: str) -> None:
    text = "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("修复:"))
    assert CJK.search(text), text
    assert not PROSE.findall(text), (PROSE.findall(text), text)


@pytest.mark.parametrize("rec", DROPS, ids=lambda p: p.stem)
def test_diagnosis_in_chinese_under_lang_zh(rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 21: Chinese throughout, the diagnosis's cause and checks too (replay --explain)."""
    rc, zh = run(capsys, str(rec), "--explain", "--lang", "zh")
    assert rc == 0
    block = zh.split("为什么被丢弃", 1)[1].split("\n", 1)[1]
    block = block[:block.index("\n\n")] if "\n\n" in block else block  # up to the summary
    causes = [ln for ln in block.splitlines() if ln.strip().startswith("原因:")]
    assert len(causes) == 1 and "已检查:" in block
    _zh_clean(block)


@pytest.mark.parametrize("rec", DROPS, ids=lambda p: p.stem)
def test_tui_diagnosis_in_chinese_in_teaching_mode(rec: Path) -> None:
    """The TUI's `e` with --lang zh (ping, trace, replay): the hop detail and the status line."""
    from rich.console import Console

    from tests.unit.test_diagnose import load
    from tracer.diagnose import diagnose
    from tui.diagnosis import detail_lines, status_text

    p, topo, _ = load(rec)
    d = diagnose(p, topo)
    assert d is not None and d.hop is not None
    console = Console(width=400, record=True)
    for line in detail_lines(d, d.hop, "zh"):
        console.print(line)
    other = next(h for h in p.request if h != d.hop)
    for line in detail_lines(d, other, "zh"):  # a hop that points at the diagnosis
        console.print(line)
    _zh_clean(console.export_text())
    _zh_clean(status_text(d, "zh").split(" — ")[0])
    assert status_text(d) == d.cause + (f" — fix: {d.fix}" if d.fix else "")  # English without `e`


def test_measured_netfilter_drop_in_chinese() -> None:
    """Live counters name the rule (and policy) that dropped: in Chinese too."""
    from tests.unit.test_diagnose import load
    from tests.unit.test_netfilter_rules import save
    from tracer.diagnose import diagnose
    from tracer.netfilter.rules import Counters, parse_iptables_save

    p, topo, _ = load(ROOT / "tests/data/faults/forward-drop.brt")
    for before, after in ((save(0), save(3)), (save(0, 5, "DROP"), save(0, 6, "DROP"))):
        nf = Counters({"docker-host": tuple(parse_iptables_save(before))},
                      {"docker-host": tuple(parse_iptables_save(after))})
        d = diagnose(p, topo, nf)
        assert d is not None and d.kind == "netfilter-drop"
        cause = d.cause_in("zh").split("`")  # the rule as written stays as written
        _zh_clean(cause[0] + (cause[2] if len(cause) > 2 else ""))
        for fact in d.evidence_in("zh"):
            _zh_clean(fact)
