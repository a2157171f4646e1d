"""bench.meta_step runs on this CPU and prints the documented JSON (tiny configurations).

Each configuration runs once per test process (:func:`_bench` is cached): the flop-count test
reuses the documented-keys test's Reptile run (2 steps, 2 tasks) as its larger configuration.
Configurations run in this process (:func:`tests.export.fixtures.run_cli`: no test here reads
a value only a fresh process has), except ``--cpu_devices=2``, a process of its own (logical
CPU devices must be set before TensorFlow starts); ``--local_workers=2`` starts its two worker
processes from here.
"""

import functools
import json
import os
import subprocess
import sys

import pytest

from tests.export.fixtures import run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = {"algorithm", "inner_steps", "tasks", "batch_size", "jit_compile", "sec_per_meta_update",
        "compile_sec", "peak_rss_mb", "gflops_per_sec", "remat", "unroll", "sec_min", "sec_max",
        "flops_per_meta_update", "rss_before_first_update_mb", "threads", "warmup", "loss",
        "inner_lr", "inner_eps", "outer_lr"}  # and the optimizers' other settings


@functools.lru_cache(maxsize=None)
def _bench(*flags):
    if any(f.startswith("--cpu_devices") for f in flags):
        proc = subprocess.run([sys.executable, "-m", "bench.meta_step", *flags], cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        code, stdout = 0, proc.stdout
    else:
        code, stdout = run_cli("bench.meta_step", *flags)
    assert code in (0, None), code
    lines = [l for l in stdout.splitlines() if l.startswith("{")]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def _documented_run(algorithm, remat, tasks):
    # absl booleans: --flag=false (the suite's form), --noflag and --flag all parse
    return _bench(f"--algorithm={algorithm}", "--inner_steps=2", f"--tasks={tasks}",
                  "--batch_size=2", "--repeats=1", "--jit_compile=false",
                  "--remat" if remat else "--noremat")


@pytest.mark.parametrize("algorithm,remat,tasks", [("maml", True, 1), ("reptile", False, 2)])
def test_prints_one_json_line_with_the_documented_keys(algorithm, remat, tasks):
    out = _documented_run(algorithm, remat, tasks)
    assert KEYS <= set(out), sorted(KEYS - set(out))
    assert (out["algorithm"], out["inner_steps"], out["tasks"], out["batch_size"]) == (
        algorithm, 2, tasks, 2)
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
    one = _bench("--algorithm=reptile", "--inner_steps=1", "--tasks=1", "--batch_size=2",
                 "--repeats=1")
    more = _documented_run("reptile", False, 2)
    assert (more["inner_steps"], more["tasks"]) == (2, 2)
    # twice the tasks and twice the steps (each step a forward and backward pass of both
    # players, counted on the unrolled graph): more than 3x the work
    assert more["flops_per_meta_update"] > 3 * one["flops_per_meta_update"]


@pytest.mark.parametrize("flags", [("--distribute=mirrored", "--cpu_devices=2"),
                                   ("--distribute=multi_worker", "--local_workers=2")])
def test_distributed_update_reports_its_time_and_scaling_against_one_device(flags):
    out = _bench("--algorithm=fomaml", "--inner_steps=1", "--tasks=2", "--batch_size=2",
                 "--repeats=1", *flags)
    assert "error" not in out, out
    assert out["replicas"] == 2 and out["tasks"] == 2
    assert out["distribute"] == flags[0].split("=")[1]
    assert 0 < out["sec_min"] <= out["sec_per_meta_update"] <= out["sec_max"]
    assert out["sec_single_device"] > 0
    assert out["speedup"] == pytest.approx(out["sec_single_device"] / out["sec_per_meta_update"])
    assert out["scaling_efficiency"] == pytest.approx(out["speedup"] / 2)


def _refused(module, *flags):
    proc = subprocess.run([sys.executable, "-m", module, *flags], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_bad_flags_are_refused_with_the_flag_named():
    assert "flag --inner_steps=0: 0 is not a positive integer" in _refused(
        "bench.meta_step", "--inner_steps=0")
    assert "--remat applies to maml and fomaml, not reptile" in _refused(
        "bench.meta_step", "--algorithm=reptile", "--remat=true")
    assert "--jit_compile" in _refused("bench.meta_step", "--jit_compile=maybe")


def test_compare_peer_marks_peer_python_required_and_names_a_missing_one():
    assert "Flag --peer_python must have a value" in _refused("bench.compare_peer")
    err = _refused("bench.compare_peer", "--peer_python=no/such/python")
    assert err.strip() == "error: --peer_python=no/such/python does not exist"
    assert "--algorithms: expected some of maml, fomaml, reptile" in _refused(
        "bench.compare_peer", "--peer_python=x", "--algorithms=maml,sgd")
