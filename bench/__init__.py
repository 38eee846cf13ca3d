"""Micro-benchmarks: `python bench/<name>.py`, or through `make bench`."""
