"""The per-boot plan cache keeps a few plans (probes/plan.py: _prune_plans): two
brtrace trees on one machine must not evict each other's plan at every start."""

from __future__ import annotations

import os
from pathlib import Path

from probes.plan import _prune_plans


def test_the_newest_plans_stay_and_nothing_else_is_touched(tmp_path: Path) -> None:
    for i in range(6):
        p = tmp_path / f"plan-{i}.json"
        p.write_text("{}")
        os.utime(p, (1000 + i, 1000 + i))
    (tmp_path / "progs").mkdir()  # the compiled-program cache lives beside them
    (tmp_path / "other.json").write_text("{}")
    _prune_plans(str(tmp_path), 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.json", "plan-3.json", "plan-4.json",
                                                         "plan-5.json", "progs"]
