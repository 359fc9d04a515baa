"""Benchmarks of the DESIGN.md budgets: ``python -m benchmarks`` (see docs/benchmarks.md)."""
