"""Command-line front: one small module per sub-command, each with ``register``."""
