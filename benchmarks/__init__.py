"""Runnable benchmark scripts (speed, memory); results land in benchmarks/results as JSON and markdown."""
