"""What /proc says about a process, for the soak tests and the live RSS bench figure."""

from __future__ import annotations


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
