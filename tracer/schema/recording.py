"""The recording format's identity: magic, schema version and record kinds.

Framing and encoding live in ``tracer/record/format.py`` (and raw batches in
``tracer/record/raw.py``); what a file *is* (which version, which records it
may hold) is schema, shared by writer, reader and anything that ships
recorded events elsewhere.

Every change to the event struct or to how a recording encodes it bumps
SCHEMA_VERSION; older versions stay in READABLE_VERSIONS.
"""

from __future__ import annotations

from typing import Final

# PNG-style: the high bit catches 7-bit transports, CRLF/^Z catch text-mode mangling.
MAGIC: Final = b"\x89BRT\r\n\x1a\n"
SCHEMA_VERSION: Final = 6
# 1: event batches as msgpack arrays (kind B); 2 adds raw kernel batches (kind R);
# 3: the header's topology names its namespaces' owners (containers, pods), bridges'
# networks and pod addresses (older brtraces refuse a Link with "network"; older files
# read unchanged)
# 4 adds the header's copy (kind C) and a sum per event in raw batches (record/rowsums.py):
# a damaged header or raw batch is salvaged
# 5: IPv6: the event struct's saddr6/daddr6 (raw batches name their layout; older ones are
# upgraded on read) and the keys' saddr6/daddr6 in event batches (absent in older files)
# 6: a route event's IPv6 gateway: the struct's F_GW6 flag (its 16 bytes in the unused inner
# key; the struct and its layout unchanged) and the routes' gateway6 in event batches (absent
# in older files: no gateway known)
READABLE_VERSIONS: Final = (1, 2, 3, 4, 5, 6)

KIND_HEADER: Final = b"H"  # first record: the SourceInfo and the created time
KIND_BATCH: Final = b"B"  # events as msgpack arrays of Event fields
KIND_RAW: Final = b"R"  # brt_event records as the kernel wrote them (version 2)
KIND_END: Final = b"E"  # trailer of a cleanly closed file: the source's counters
KIND_HEADER_COPY: Final = b"C"  # the header again, read only when the first is damaged (version 4)
