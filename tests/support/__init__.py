"""Helpers shared by tests and the benchmarks (``tests.support.*``): no test runs here."""
