"""Labs: the seed notes' networks rebuilt in ``brt-`` network namespaces.

Library API (the CLI, the tracer and the test fixtures use these names)::

    LABS["flannel"].addresses["pod-b"]  # "10.244.1.3"
    up("flannel") -> LabInfo            # idempotent
    down("flannel"); down()             # one lab / all labs
    status("flannel") -> LabInfo
    netns_path("pod-a")                 # "/run/netns/brt-pod-a"
"""

from tracer.lab.build import netns_path, ns_name
from tracer.lab.manage import DEFAULT_LAB, LABS, down, get, status, up
from tracer.lab.spec import STATE_DOWN, STATE_PARTIAL, STATE_UP, Lab, LabInfo

__all__ = [
           "DEFAULT_LAB",
           "LABS",
           "STATE_DOWN",
           "STATE_PARTIAL",
           "STATE_UP",
           "Lab",
           "LabInfo",
           "down",
           "get",
           "netns_path",
           "ns_name",
           "status",
           "up",
]
