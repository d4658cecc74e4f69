"""pcap-filter expressions as data: the classic BPF model and its translation to C.

Pure (no ctypes, no bcc): libpcap's compiler lives in ``probes/pcap.py``;
what it returns is a list of instructions, and everything here works on that.
"""
