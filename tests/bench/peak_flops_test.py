"""bench.peak_flops prints one JSON line of measured GFLOP/s (a tiny matmul here)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_prints_the_best_rates_and_their_maximum():
    proc = subprocess.run([sys.executable, "-m", "bench.peak_flops", "--size=64", "--repeats=2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    assert len(lines) == 1, proc.stdout
    out = json.loads(lines[0])
    assert (out["matmul_size"], out["repeats"]) == (64, 2)
    assert out["matmul_gflops_per_sec"] > 0 and out["conv_gflops_per_sec"] > 0
    assert out["peak_gflops_per_sec"] == max(out["matmul_gflops_per_sec"],
                                             out["conv_gflops_per_sec"])


def test_a_size_below_one_is_refused():
    proc = subprocess.run([sys.executable, "-m", "bench.peak_flops", "--size=0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "flag --size=0: 0 is not a positive integer" in proc.stderr
