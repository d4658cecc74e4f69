"""What /proc says about a process, for the soak tests and the live RSS bench figure."""

from __future__ import annotations

import os


def rss_kb(pid: int) -> int:
    """Resident set size in kB (VmRSS); 0 once the process is gone, so a sampler never raises."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of every thread of ``pid`` (not its children); 0 once gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # after "pid (comm)": field 3 is fields[0], so utime (14) and stime (15) are [11] and [12]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
