"""Teaching mode: every hop verb the correlator emits has an explanation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.correlate import Correlator, build_hops
from tracer.correlate.vocab import Verb
from tracer.errors import BrtraceError
from tracer.explain import explain, texts
from tracer.record.reader import open_recording

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "samples").glob("*.brt"))
LANGS = sorted(p.name.split(".")[1] for p in (Path(__file__).resolve().parents[2] / "tracer/data")
               .glob("explain.*.json"))


@pytest.mark.parametrize("lang", LANGS)
def test_every_verb_has_a_text(lang: str) -> None:
    """``Hop.verb`` is a ``Verb``, so the enum is every verb the correlator can emit."""
    assert len(Verb) >= 20
    missing = sorted(v for v in Verb if v not in texts(lang))
    assert not missing, f"{lang}: no explanation for {missing}"


def test_every_text_names_a_verb() -> None:
    """A text keyed by a verb nothing emits (a renamed verb) would never be shown."""
    extra = {"nat", "ndp", "_unknown", "damage"}  # damage, diagnosis.*: explain mode's drop and salvage texts
    stale = sorted(k for k in texts() if k not in extra and k.split(".")[0] not in {*Verb, "diagnosis"})
    assert not stale


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_samples_explain_every_hop(sample: Path) -> None:
    rec = open_recording(sample)
    corr = Correlator()
    corr.feed(rec.events())
    for j in corr.journeys.values():
        for h in build_hops(j, rec.info.topology):
            text = explain(h)
            assert text and "{" not in text, (h.verb, text)
            if h.verb in texts():
                assert text != h.action


def test_bridge_up_names_the_seed_rule() -> None:
    rec = open_recording(SAMPLES[0].with_name("flannel-ping.brt"))
    corr = Correlator()
    corr.feed(rec.events())
    hop = next(h for j in corr.journeys.values() for h in build_hops(j, rec.info.topology)
               if h.verb == Verb.BRIDGE_UP)
    assert "destination MAC is the bridge's own MAC" in explain(hop)


def test_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(BrtraceError, match="no explanations for language"):
        texts("xx")
    with pytest.raises(BrtraceError):
        texts("../etc")


def test_translations_have_the_same_keys_as_english() -> None:
    en = set(texts("en"))
    data = Path(__file__).resolve().parents[2] / "tracer/data"
    for path in data.glob("explain.*.json"):
        lang = path.name.split(".")[1]
        assert set(texts(lang)) == en, lang


def test_chinese_replay_explains_in_the_seeds_language() -> None:
    rec = open_recording(SAMPLES[0].with_name("flannel-ping.brt"))
    corr = Correlator()
    corr.feed(rec.events())
    hop = next(h for j in corr.journeys.values() for h in build_hops(j, rec.info.topology)
               if h.verb == Verb.BRIDGE_UP)
    assert "目的 MAC 就是网桥自己的 MAC" in explain(hop, "zh")


def test_replay_explain_cli_needs_no_root(capsys: pytest.CaptureFixture[str]) -> None:
    from tracer.cli.main import main

    assert main(["replay", str(SAMPLES[0].with_name("docker-nat.brt")), "--explain"]) == 0
    out = capsys.readouterr().out
    assert "MASQUERADE" in out and "veth pair" in out
    assert main(["replay", str(SAMPLES[0].with_name("docker-nat.brt")), "--explain", "--lang", "xx"]) == 2
