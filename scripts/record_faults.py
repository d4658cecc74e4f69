#!/usr/bin/env python3
"""Record one ``brtrace ping`` per lab fault into ``tests/data/faults/FAULT.brt`` (root).

The recordings are the unit tests' ground truth for ``tracer.diagnose``: real
kernel events plus the topology snapshot taken while the fault was active.
Each fault is fixed in a ``finally``, so an interrupted run leaves no lab broken.
Usage: scripts/record_faults.py [FAULT ...]   (default: every fault)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "tests" / "data" / "faults"
BRTRACE = str(Path(sys.executable).with_name("brtrace"))


def record(name: str) -> None:
    from tracer import lab
    from tracer.lab import fault

    f = fault.get(name)
    lab.up(f.lab)
    path = OUT / f"{name}.brt"
    path.unlink(missing_ok=True)
    fault.break_(name)
    try:
        cmd = [BRTRACE, "ping", *f.ping_args(), "-c", "1", "--plain", "--record", str(path)]
        subprocess.run(cmd, stdout=subprocess.DEVNULL, timeout=60, check=False)
    finally:
        fault.fix(name)
    if not path.exists():
        raise SystemExit(f"record_faults: {path} was not written")
    print(f"wrote {path.relative_to(ROOT)}")


def main(names: list[str]) -> int:
    from tracer.lab import fault

    OUT.mkdir(parents=True, exist_ok=True)
    for name in names or list(fault.FAULTS):
        record(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
