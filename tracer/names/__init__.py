"""Names for what the kernel numbers: devices, namespaces, containers, pods, networks."""
