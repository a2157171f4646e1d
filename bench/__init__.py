"""Benchmarks that print JSON (speed and memory are measured here, never in tests)."""

import os

# What the trainers run: TensorFlow's oneDNN CPU kernels unless the environment says otherwise
# (trainers/common.py quiet_start); set before any benchmark imports TensorFlow.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
