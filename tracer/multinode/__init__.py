"""Many nodes, one time line: the pure core of tracing across nodes.

Agents (``tracer/agent``) stream each node's raw kernel records; the client
(``tracer/remote``) hands them here. Nothing here imports grpc, bcc or
pyroute2: clock offsets, the merge of every node's records into one time
ordered stream, the merged topology and the hops' node names are plain data,
tested without a network.
"""
