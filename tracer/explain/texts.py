"""The teaching texts, one data file per language (``tracer/data/explain.<lang>.json``).

A translation is a data file, not code. Templates are filled with
``str.format_map`` over plain strings only — no evaluation of anything.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from tracer.errors import BrtraceError

DATA = Path(__file__).resolve().parents[1] / "data"


class Blank(dict[str, str]):
    """format_map values: a placeholder with no value stays visible as ``{name}`` (a test catches it)."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def languages() -> list[str]:
    return sorted(p.name.split(".")[1] for p in DATA.glob("explain.*.json"))


@lru_cache(maxsize=8)
def texts(lang: str = "en") -> dict[str, str]:
    """Every text of ``lang``, by key; an unknown language is one clear error (exit 2)."""
    path = DATA / f"explain.{lang}.json"
    if not lang.isalnum() or not path.exists():
        raise BrtraceError(f"no explanations for language {lang!r} (have: {', '.join(languages())})", 2)
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items() if not str(k).startswith("_") or k == "_unknown"}


def fill(lang: str, key: str, /, **values: str) -> str:
    """Text ``key`` of ``lang`` with ``values`` filled in."""
    return texts(lang)[key].format_map(Blank(values))
