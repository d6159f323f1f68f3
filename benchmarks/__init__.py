"""Benchmark scripts: each prints numbers; none asserts a time. Run all with ``python -m benchmarks``."""
