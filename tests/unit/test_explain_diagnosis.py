"""Explain mode knows as much as --plain about a drop: cause, checks, culprit, fix (issue 20, item 1)."""

from __future__ import annotations

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
