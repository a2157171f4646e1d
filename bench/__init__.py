"""Benchmarks that print JSON (speed and memory are measured here, never in tests)."""
