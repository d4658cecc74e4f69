"""``brtrace serve`` refuses, in one line, what would otherwise break in the browser tab."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tracer.cli.main import main
from tracer.cli.serve_cmd import served_args
from tracer.errors import BrtraceError
from tracer.hostaddr import is_loopback

SAMPLE = str(Path(__file__).resolve().parents[2] / "samples" / "flannel-ping.brt")


def test_served_command_forces_the_tui() -> None:
    assert served_args([SAMPLE]) == ["replay", "--tui", SAMPLE]
    assert served_args(["--", "replay", SAMPLE, "--speed", "2"]) == [
        "replay", "--tui", SAMPLE, "--speed", "2"]
    assert served_args(["trace", "--", "ping", "x"]) == ["trace", "--tui", "--", "ping", "x"]
    for bad in ([], ["export", SAMPLE], ["--plain"]):
        with pytest.raises(BrtraceError):
            served_args(bad)


def test_loopback_is_recognised() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.244.0.2") and not is_loopback("example")


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("brtrace: "), lines
    return lines[0]


def test_mistakes_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["serve"]) == 2
    assert "serve needs something to serve" in _err(capsys)
    assert main(["serve", str(tmp_path / "gone.brt")]) == 1
    assert "cannot read recording" in _err(capsys)
    (tmp_path / "junk.brt").write_bytes(b"junk")
    assert main(["serve", str(tmp_path / "junk.brt")]) == 1
    assert "not a brtrace recording" in _err(capsys)
    assert main(["serve", "doctor"]) == 2
    assert "not 'doctor'" in _err(capsys)


def test_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port), SAMPLE]) == 1
    assert _err(capsys) == f"brtrace: port {port} on 127.0.0.1 is in use; pick another with --port"


def test_live_beyond_loopback_needs_expose_live(capsys: pytest.CaptureFixture[str]) -> None:
    if __import__("os").geteuid() != 0:
        assert main(["serve", "ping", "10.244.1.3"]) == 77  # live needs root, said before serving
        assert "needs root" in _err(capsys)
        return
    assert main(["serve", "--host", "0.0.0.0", "ping", "10.244.1.3"]) == 2
    assert "--expose-live" in _err(capsys)
