"""The machine's possible CPUs, read once from sysfs, as the probes count them.

Two numbers come from the one list, and they differ where the ids have gaps
("0,2"): a per-CPU map's value holds one slot per possible CPU (the kernel's
num_possible_cpus()), while the per-CPU rings are indexed by the CPU id
bpf_get_smp_processor_id() returns, so they need one past the highest id.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

POSSIBLE = "/sys/devices/system/cpu/possible"


@dataclass(frozen=True)
class PossibleCpus:
    ids: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> PossibleCpus:
        """The kernel's cpulist format: "0-3,8-11"."""
        ids: list[int] = []
        for part in text.strip().split(","):
            lo, _, hi = part.partition("-")
            ids.extend(range(int(lo), int(hi or lo) + 1))
        return cls(tuple(ids))

    @classmethod
    @functools.cache
    def read(cls) -> PossibleCpus:
        """Once per process: the possible set is fixed at boot, and the loss
        counters are read through it every 0.2 s (childload._Map)."""
        with open(POSSIBLE) as f:
            return cls.parse(f.read())

    @property
    def count(self) -> int:
        """Values in a per-CPU map's element."""
        return len(self.ids)

    @property
    def id_limit(self) -> int:
        """One past the highest id: the per-CPU rings' index range."""
        return max(self.ids) + 1
