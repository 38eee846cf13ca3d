"""Several RelayRoom nodes on one PostgreSQL and one Redis (docs/cluster.md).

``identity``: who this node is and the keys every node must share. The Redis building blocks (node
registry, room leases, command bus, shared limits and presence) live in their own modules; a node
without ``redis_url`` uses none of them.
"""
