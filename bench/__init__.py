"""Benchmarks that print JSON (speed and memory are measured here, never in tests)."""

from trainers.common import onednn_default

onednn_default()   # what the trainers run; before any benchmark imports TensorFlow
