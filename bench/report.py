"""The benchmark's outputs: results.json, the RESULTS.md table, and the README's copy of it.

A partial run (``--only``, ``--smoke``) writes to the temp dir unless told
where, so it never replaces the committed full table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from typing import Any

from bench.context import Bench
from bench.procs import HERE, ROOT

README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def _num(x: float, unit: str) -> str:
    if unit in ("events/s", "pkt/s"):
        return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"
    if unit in ("s", "Gbit/s"):
        return f"{x:.2f}"
    if unit in ("ms", "runs"):
        return f"{x:.1f}"
    if unit.startswith("%"):
        return f"{x:.1f} %"
    if unit == "MB":
        return f"{x:.0f}"
    return f"{x:,.0f}"


def fmt_val(res: dict[str, Any] | None, unit: str) -> str:
    """A table cell: the median, and [min–max] when there was more than one sample."""
    if not res or res.get("median") is None:
        return "—"
    m, lo, hi = res["median"], res.get("min"), res.get("max")
    s = _num(m, unit)
    if res.get("n", 1) > 1 and lo is not None and hi is not None:
        s += f" [{_num(lo, unit)}–{_num(hi, unit)}]"
    return s


def table(bench: Bench, a: argparse.Namespace, date: str) -> list[str]:
    """RESULTS.md: a heading, what ran where, the table, then each figure's note."""
    names = [t.name for t in bench.trees]
    side = (f"; before = `{a.baseline}`, after = working tree, measured side by side in the same run"
            if a.baseline else "")
    lines = ["# brtrace benchmarks", "",
             f"`make bench` on {date}: kernel {platform.release()}, {os.cpu_count()} CPUs, "
             f"load average at start {a.load_start[0]:.1f}; {a.rounds} rounds, median [min–max]{side}.", "",
             "| figure | target | " + " | ".join(names) + " | met |", "|" + "---|" * (3 + len(names))]
    for fig in bench.figs:
        target = fig.target.text()
        if fig.skipped:
            lines.append(f"| {fig.title} | {target} | " + " | ".join("—" for _ in names)
                         + f" | skipped: {fig.skipped} |")
            continue
        cells = [fmt_val(fig.results.get(n), fig.unit) for n in names]
        met = "—" if fig.ok is None else ("yes" if fig.ok else "**no**")
        lines.append(f"| {fig.title} ({fig.unit}) | {target} | " + " | ".join(cells) + f" | {met} |")
    lines += ["", "Notes:", ""]
    seen: set[str] = set()
    for fig in bench.figs:
        line = f"- {fig.title}: {fig.note}"
        if fig.note and not fig.skipped and line not in seen:
            seen.add(line)
            lines.append(line)
    return lines


def write_outputs(bench: Bench, a: argparse.Namespace, started: float) -> None:
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "kernel": platform.release(),
            "cpus": os.cpu_count(), "loadavg_start": a.load_start, "loadavg_end": os.getloadavg(),
            "rounds": a.rounds, "smoke": a.smoke, "baseline": a.baseline or None,
            "seconds": time.time() - started, "python": platform.python_version()}
    data = {"meta": meta, "figures": [f.to_json() for f in bench.figs]}
    partial = bool(a.only or a.smoke)
    where = tempfile.gettempdir() if partial else HERE
    out_json = a.out or os.path.join(where, "brtrace-bench-partial.json" if partial else "results.json")
    with open(out_json, "w") as f:
        json.dump(data, f, indent=1, default=str)
    lines = table(bench, a, str(meta["date"]))
    out_md = a.md or os.path.join(where, "brtrace-bench-partial.md" if partial else "RESULTS.md")
    with open(out_md, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten: {out_json}, {out_md}")
    if not a.smoke and not a.md and not a.only:
        update_readme(lines[2:])


def update_readme(lines: list[str]) -> None:
    """Put the table between the README's bench markers (only there, only if present)."""
    path = os.path.join(ROOT, "README.md")
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return
    a, b = text.find(README_START), text.find(README_END)
    if a < 0 or b < a:
        return
    block = README_START + "\n" + "\n".join(lines).strip() + "\n" + README_END
    with open(path, "w") as f:
        f.write(text[:a] + block + text[b + len(README_END):])
