"""``brtrace agent``: one per node, serving its kernel's events over gRPC.

The only packages that import grpc are this one (the server) and
``tracer/remote`` (the client); the pure core never sees the wire.
"""
