"""Benchmark harness of recsys: synthetic data and the training-speed comparison.

See ``docs/benchmarks.md`` for what is measured and how to run it.
"""
