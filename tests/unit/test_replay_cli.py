"""The CLI's small things (issue 21 item 9): refused combinations, --bogus, --version, the reply's t."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracer.cli.main import main
from tracer.explain.wrap import cells

ROOT = Path(__file__).resolve().parents[2]
FLANNEL = str(ROOT / "samples/flannel-ping.brt")
RECORDINGS = sorted((ROOT / "samples").glob("*.brt")) + sorted((ROOT / "tests/data/faults").glob("*.brt"))


def _err(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse's own errors and --version
        rc = int(exc.code or 0)
    cap = capsys.readouterr()
    return rc, cap.err + cap.out


def test_bogus_option_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _err(capsys, "--bogus")
    assert rc == 2 and "unrecognized arguments: --bogus" in err and "required" not in err
    rc, err = _err(capsys)
    assert rc == 2 and "the following arguments are required: COMMAND" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _err(capsys, "--version")
    assert rc == 0 and re.fullmatch(r"brtrace \d+\.\d+\.\d+\S*\n", out)


def test_explain_json_refused(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _err(capsys, "replay", FLANNEL, "--explain", "--json")
    assert rc == 2 and err.count("\n") == 1 and "--explain" in err and "--json" in err


@pytest.mark.parametrize("speed", ["-1", "0", "nan", "x"])
def test_bad_speed_refused(capsys: pytest.CaptureFixture[str], speed: str) -> None:
    rc, err = _err(capsys, "replay", FLANNEL, "--plain", "--speed", speed)
    assert rc == 2 and "--speed" in err and "Traceback" not in err


def test_speed_with_text_output_refused(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _err(capsys, "replay", FLANNEL, "--plain", "--speed", "2")
    assert rc == 2 and "--speed paces the TUI only" in err


def test_reply_time_goes_on_from_the_request(capsys: pytest.CaptureFixture[str]) -> None:
    """--plain and the TUI agree: t counts from the request's first hop, so the reply's last t
    is the round trip the kernel saw."""
    rc, out = _err(capsys, "replay", FLANNEL, "--plain")
    assert rc == 0
    block = out.split("\n\n")[0]
    req, rep = block.split("  reply:")
    t = re.compile(r"^\s+~?\s*\d+\s+\S+\s+\S+\s+\S+\s+(\S+)\s", re.M)
    last_req, first_rep = t.findall(req)[-1], t.findall(rep)[0]
    assert first_rep != "0ns" and _ns(first_rep) > _ns(last_req)
    rtt = re.search(r"rtt (\S+)", block)
    assert rtt is not None and abs(_ns(t.findall(rep)[-1]) - _ns(rtt.group(1))) < 1_000


def _ns(text: str) -> float:
    for unit, mult in (("ns", 1), ("µs", 1e3), ("ms", 1e6)):
        if text.endswith(unit) and text[:-len(unit)].replace(".", "").isdigit():
            return float(text[:-len(unit)]) * mult
    raise AssertionError(text)


@pytest.mark.parametrize("rec", RECORDINGS, ids=lambda p: p.name)
def test_no_chinese_line_wider_than_asked(rec: Path) -> None:
    """Wrapping counts terminal cells: a CJK character takes two."""
    from tracer.correlate import Correlator
    from tracer.correlate.pairing import PacketBook
    from tracer.explain.lines import explain_lines
    from tracer.record import open_recording

    with open_recording(rec) as r:
        corr, book = Correlator(), PacketBook(r.info.topology)
        for batch in r.batches():
            book.update(corr, corr.feed(batch))
        book.update(corr, set(), final=True)
    for width in (100, 72, 60):
        for p in book.packets.values():
            for line in explain_lines(p, p.src, p.dst, "zh", r.info.topology, width):
                if line.lstrip().startswith("修复:"):
                    continue  # a shell command stays one line, to be pasted
                assert cells(line) <= width, (width, line)


@pytest.mark.parametrize("command", [["ping", "10.0.0.1"], ["trace"]])
def test_live_tui_commands_take_lang(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    """ping and trace open the TUI too: their `e` speaks --lang; an unknown one is refused first."""
    from tracer.cli.main import build_parser

    args = build_parser().parse_args([*command, "--lang", "zh"])
    assert args.lang == "zh"
    rc, err = _err(capsys, *command, "--lang", "xx")
    assert rc == 2 and "invalid choice: 'xx'" in err


def test_summary_counts_probes_arp_and_other_packets_apart() -> None:
    from tracer.correlate.pairing import Packet
    from tracer.correlate.vocab import Status
    from tracer.explain import summary_line

    echo = Packet(1, "icmp seq 1 id 0x0001", status=Status.DELIVERED, echo=True, seq=1, ident=1)
    arp = Packet(2, "arp", status=Status.DELIVERED)
    tcp = [Packet(3, "tcp 1→2 id 3", status=Status.DELIVERED),
           Packet(4, "tcp 1→2 id 4", status=Status.UNANSWERED)]
    assert summary_line([arp, echo, *tcp], 0, 9) == (
        "1 probes: 1 delivered, 0 dropped, 0 unanswered; 9 events, 0 lost; 1 ARP frames; 2 other packets")
    assert summary_line([arp, *tcp], 0, 9) == (
        "2 packets: 1 delivered, 0 dropped, 1 unanswered; 9 events, 0 lost; 1 ARP frames")
    assert summary_line([arp, *tcp], 0, 9, "zh") == (
        "2 个包：1 个送达，0 个丢弃，1 个无应答；9 个事件，丢失 0 个；ARP 帧 1 个")


def test_lang_without_explain_says_where_it_applies(capsys: pytest.CaptureFixture[str]) -> None:
    """The plain hop list is English: --lang zh there is said once, not silently ignored."""
    rc, out = _err(capsys, "replay", FLANNEL, "--plain", "--lang", "zh")
    assert rc == 0 and "--lang zh is the teaching mode's language: add --explain" in out
    rc, out = _err(capsys, "replay", FLANNEL, "--plain", "--explain", "--lang", "zh")
    assert rc == 0 and "add --explain" not in out and re.search(r"[\u4e00-\u9fff]", out)
