"""Device names are cut at the first NUL, wherever the bytes come from."""

from __future__ import annotations

import numpy as np

from tracer.names.devname import dev_name
from tracer.schema.decode import Decoder
from tracer.schema.event import event_dtype


def test_dev_name_cuts_at_first_nul() -> None:
    assert dev_name(b"eth0\0\0\0\0887") == "eth0"
    assert dev_name(b"flannel.1") == "flannel.1"
    assert dev_name(b"") == ""
    assert dev_name(b"\xffbad\0tail") == "\ufffdbad"


def test_decoder_cleans_a_renamed_device() -> None:
    arr = np.zeros(1, dtype=event_dtype())
    arr["ifname"] = b"eth0\0\0\0\0887"
    arr["hook"] = 1
    ev = Decoder().decode_all(arr)[0]
    assert ev.ifname == "eth0"
