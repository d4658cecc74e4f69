"""The capabilities recorded in deploy/capabilities.json (and granted by the
DaemonSet) are still what a real agent needs on this kernel: with exactly those
the trace through it works, and without any one of them it fails.

Each trial is a real ``brtrace agent`` under ``setpriv --bounding-set`` and a
real ``brtrace ping --agents`` in the flannel lab (tests/support/caps.py). The
full measurement that wrote the record: ``python -m tests.support.caps --write``.
"""

from __future__ import annotations

import pytest

from tests.support.caps import recorded, trial

pytestmark = pytest.mark.kernel


def test_the_recorded_capabilities_suffice_and_each_is_needed(flannel_lab: object) -> None:
    caps = tuple(c.removeprefix("CAP_").lower() for c in recorded())
    assert caps, "deploy/capabilities.json lists no capability"
    enough = trial(caps)
    assert enough.ok, f"the agent fails with {caps}: {enough.why}"
    for cap in caps:
        without = trial(tuple(c for c in caps if c != cap))
        assert not without.ok, f"CAP_{cap.upper()} is not needed any more: measure again"
        assert without.why
