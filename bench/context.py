"""What every figure step of a benchmark run shares: the trees, the sizes, the figures so far."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from bench.figure import Figure, Tree


@dataclass
class Bench:
    """One run: each step adds its figures here, and the report writes them in order."""

    trees: list[Tree]
    smoke: bool
    rounds: int
    flood_seconds: float
    figs: list[Figure] = field(default_factory=list)
    kernel_skip: str = ""  # why the kernel figures cannot run here ('' when they can)

    @property
    def after(self) -> Tree:
        """The working tree (always last): the only one with the newest options."""
        return self.trees[-1]

    def log(self, msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def add(self, fig: Figure) -> Figure:
        self.figs.append(fig)
        return fig

    def skip_kernel(self, *figs: Figure) -> bool:
        """Mark ``figs`` skipped (with the reason) when the kernel figures cannot run."""
        if self.kernel_skip:
            for f in figs:
                f.skipped = self.kernel_skip
        return bool(self.kernel_skip)

    def per_tree(self) -> dict[str, list[float]]:
        return {t.name: [] for t in self.trees}
