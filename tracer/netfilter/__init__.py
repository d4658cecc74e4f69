"""Netfilter rules as data: which table, chain and rule counted the packets a trace lost.

``rules`` is pure (parsing ``iptables-save -c`` and ``nft -j list ruleset``,
the counter deltas); ``read`` runs those tools inside each namespace.
"""
