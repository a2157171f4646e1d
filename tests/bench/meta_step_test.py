"""bench.meta_step runs on this CPU and prints the documented JSON (tiny configurations)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = {"algorithm", "inner_steps", "tasks", "batch_size", "jit_compile", "sec_per_meta_update",
        "compile_sec", "peak_rss_mb", "gflops_per_sec", "remat", "unroll", "sec_min", "sec_max",
        "flops_per_meta_update", "rss_before_first_update_mb"}


def _bench(*flags):
    proc = subprocess.run([sys.executable, "-m", "bench.meta_step", *flags], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


@pytest.mark.parametrize("algorithm,remat", [("maml", False), ("maml", True), ("reptile", False)])
def test_prints_one_json_line_with_the_documented_keys(algorithm, remat):
    out = _bench(f"--algorithm={algorithm}", "--inner_steps=2", "--tasks=1", "--batch_size=2",
                 "--repeats=1", f"--remat={str(remat).lower()}")
    assert KEYS <= set(out), sorted(KEYS - set(out))
    assert (out["algorithm"], out["inner_steps"], out["tasks"], out["batch_size"]) == (
        algorithm, 2, 1, 2)
    assert out["remat"] is remat and out["jit_compile"] is False
    assert out["unroll"] is (not remat)  # the default inner loop for each mode
    assert 0 < out["sec_min"] <= out["sec_per_meta_update"] <= out["sec_max"]
    assert out["compile_sec"] >= 0
    assert out["peak_rss_mb"] >= out["rss_before_first_update_mb"] > 100
    # FLOPs are counted by TF's profiler on the unrolled graph: the GAN's convolutions alone
    # are tens of MFLOP per image, so two images and two steps are well over 1e8.
    assert out["flops_per_meta_update"] > 1e8
    assert out["gflops_per_sec"] == pytest.approx(
        out["flops_per_meta_update"] / out["sec_per_meta_update"] / 1e9)


def test_flop_count_grows_with_inner_steps_and_tasks():
    one = _bench("--algorithm=fomaml", "--inner_steps=1", "--tasks=1", "--batch_size=2",
                 "--repeats=1")
    more = _bench("--algorithm=fomaml", "--inner_steps=2", "--tasks=2", "--batch_size=2",
                  "--repeats=1")
    # twice the tasks and twice the steps (plus validations): more than 3x the work
    assert more["flops_per_meta_update"] > 3 * one["flops_per_meta_update"]


def test_bad_flags_are_refused():
    proc = subprocess.run([sys.executable, "-m", "bench.meta_step", "--inner_steps=0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "--inner_steps must be >= 1" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "bench.meta_step", "--algorithm=reptile",
                           "--remat=true"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "--remat applies to maml and fomaml" in proc.stderr
