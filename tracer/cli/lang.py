"""``--lang``: the one option every TUI-opening command takes for its teaching mode (`e`)."""

from __future__ import annotations

import argparse
from pathlib import Path

# tracer/explain/texts.py reads these; globbed here so that building the parser imports
# nothing (tracer.explain pulls in the correlator and numpy)
DATA = Path(__file__).resolve().parents[1] / "data"


def languages() -> list[str]:
    return sorted(p.name.split(".")[1] for p in DATA.glob("explain.*.json"))


def add_lang_arg(p: argparse.ArgumentParser) -> None:
    """An unknown language is refused by argparse, in one line, before anything starts."""
    p.add_argument("--lang", default="en", choices=languages(),
                   help="language of the TUI's teaching mode (`e`): " + ", ".join(languages()))
