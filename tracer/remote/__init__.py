"""The client side of ``--agents``: reach every agent, merge what they send.

With ``tracer/agent`` the only importers of grpc; what they receive goes to
the pure core (``tracer/multinode``) and from there to the usual views.
"""
