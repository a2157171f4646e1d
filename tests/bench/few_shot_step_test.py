"""bench.few_shot_step times real Conv-4 meta-updates and prints the documented JSON (tiny sizes);
bench.compare_few_shot refuses bad flags with one line (its real runs need the peer's torch).

The reference configuration (maml, loop) runs as ``python -m bench.few_shot_step``: one JSON
line on stdout, progress on stderr. The others call its main in this process
(:func:`tests.export.fixtures.run_cli`, stderr captured): no assertion needs a fresh process
(peak RSS >= RSS before > 100 MB holds for any process), and each saves TensorFlow's import.
"""

import contextlib
import io
import json
import math
import os
import subprocess
import sys

import pytest

from tests.export.fixtures import run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the peer's keys (torch_maml_omniglot.py) that mean the same here, then tfmeta's own
PEER_KEYS = {"side", "framework", "algorithm", "ways", "shots", "queries", "tasks",
             "inner_steps", "tasks_mode", "threads", "sec_per_meta_update", "min_sec",
             "peak_rss_mb", "final_loss", "machine"}
OWN_KEYS = {"inner_lr", "outer_lr", "parallel_tasks", "warmup", "repeats", "max_sec", "sec_all",
            "warmup_sec", "first_sec", "rss_before_first_update_mb", "tensorflow",
            "loadavg_1min"}


def _bench(*flags, process=False):
    if process:
        proc = subprocess.run([sys.executable, "-m", "bench.few_shot_step", *flags], cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        code, stdout, stderr = 0, proc.stdout, proc.stderr
    else:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code, stdout = run_cli("bench.few_shot_step", *flags)
        stderr = err.getvalue()
        assert code in (0, None), (code, stderr[-3000:])
    lines = [l for l in stdout.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("{"), stdout  # progress goes to stderr
    return json.loads(lines[0]), stderr


# MeGAN takes 2 inner steps: its generated images enter the classifier's loss from step 1.
@pytest.mark.parametrize("algorithm,tasks_mode,steps", [("maml", "loop", 1),
                                                       ("fomaml", "vectorized", 1),
                                                       ("megan", "loop", 2)])
def test_prints_one_json_line_with_the_peer_keys_and_positive_values(algorithm, tasks_mode,
                                                                     steps):
    out, err = _bench(f"--algorithm={algorithm}", f"--tasks_mode={tasks_mode}", "--ways=3",
                      "--tasks=2", "--queries=2", f"--inner_steps={steps}", "--repeats=2",
                      "--warmup=1", process=algorithm == "maml")
    assert PEER_KEYS | OWN_KEYS <= set(out), sorted(PEER_KEYS | OWN_KEYS - set(out))
    assert out["side"] == "tfmeta" and out["framework"].startswith("tensorflow ")
    assert (out["algorithm"], out["tasks_mode"], out["ways"], out["shots"], out["queries"],
            out["tasks"], out["inner_steps"], out["warmup"], out["repeats"]) == (
        algorithm, tasks_mode, 3, 1, 2, 2, steps, 1, 2)
    assert len(out["sec_all"]) == 2
    assert 0 < out["min_sec"] <= out["sec_per_meta_update"] <= out["max_sec"]
    # the warm-up update traces and optimizes the graph: slower than a timed one
    assert out["warmup_sec"] == out["first_sec"] > out["min_sec"]
    assert out["peak_rss_mb"] >= out["rss_before_first_update_mb"] > 100
    # cross-entropy of 3 classes (megan: 3 + "fake") near initialization: finite, around log(3)
    assert math.isfinite(out["final_loss"]) and 0 < out["final_loss"] < 3 * math.log(3)
    assert out["threads"] >= 1
    assert "timed update 3/3" in err


def _refused(module, *flags):
    proc = subprocess.run([sys.executable, "-m", module, *flags], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_few_shot_step_refuses_bad_flags_naming_them():
    assert "flag --ways=1: 1 is not integer >= 2" in _refused("bench.few_shot_step", "--ways=1")
    assert "flag --repeats=0: 0 is not a positive integer" in _refused(
        "bench.few_shot_step", "--repeats=0")
    assert "--inner_lr: expected a number > 0" in _refused("bench.few_shot_step", "--inner_lr=0")
    assert "--tasks_mode=vmap" in _refused("bench.few_shot_step", "--tasks_mode=vmap")
    for flags in (["--algorithm=protonet"], ["--algorithm=maml", "--inner_steps=0"]):
        assert ("--inner_steps: 0 for --algorithm=protonet (no inner loop), at least 1 for the "
                "others") in _refused("bench.few_shot_step", *flags)


def test_compare_few_shot_needs_peer_python_and_names_what_is_wrong():
    assert "Flag --peer_python must have a value" in _refused("bench.compare_few_shot")
    err = _refused("bench.compare_few_shot", "--peer_python=no/such/python")
    assert err.strip() == "error: --peer_python=no/such/python does not exist"
    err = _refused("bench.compare_few_shot", f"--peer_python={sys.executable}",
                   "--peer_dir=no/such/dir")
    assert err.strip() == "error: --peer_dir=no/such/dir holds no torch_maml_omniglot.py"
    assert "--configs: 'maml-5w1s' is not ALGORITHM-<N>w<K>s-<Q>q-<T>t-<S>k" in _refused(
        "bench.compare_few_shot", "--peer_python=x", "--configs=maml-5w1s")
    assert "'reptile-5w1s-15q-32t-1k' is not" in _refused(
        "bench.compare_few_shot", "--peer_python=x", "--configs=maml-5w1s-15q-32t-1k,"
        "reptile-5w1s-15q-32t-1k")
    for config in ("protonet-5w1s-15q-32t-1k", "maml-5w1s-15q-32t-0k"):
        assert (f"--configs: '{config}' needs 0k for protonet (no inner loop) and at least 1k "
                "for maml and fomaml") in _refused("bench.compare_few_shot", "--peer_python=x",
                                                   f"--configs={config}")
    # bench.compare_peer's MAML-GAN flags are not this bench's: the workloads are --configs
    assert "Unknown command line flag 'tasks'" in _refused(
        "bench.compare_few_shot", "--peer_python=x", "--tasks=4")


def _conv4_forward_flops(images: int) -> int:
    """Multiply-adds x 2 of the stride-2 Conv-4's convolutions on 28x28x1 images (3x3, 64)."""
    per_image, side, channels = 0, 28, 1
    for _ in range(4):
        side = (side + 1) // 2  # "same" padding, stride 2: 14, 7, 4, 2
        per_image += 2 * side * side * channels * 64 * 9
        channels = 64
    return per_image * images


def test_flops_and_profile_of_a_first_order_update_match_the_counted_convolutions():
    out, _ = _bench("--algorithm=fomaml", "--ways=3", "--tasks=2", "--queries=2", "--repeats=1",
                    "--warmup=1", "--flops", "--profile=4")
    one_task = _bench("--algorithm=fomaml", "--ways=3", "--tasks=1", "--queries=2",
                      "--repeats=1", "--warmup=1", "--flops")[0]["flops_per_meta_update"]
    assert out["flops_per_meta_update"] == 2 * one_task  # T tasks of the same work
    assert out["gflops_per_sec"] == pytest.approx(
        out["flops_per_meta_update"] / out["sec_per_meta_update"] / 1e9)
    # first order, one step: forward and two backward kernels over the 3 support images, then
    # over the 6 queries at the adapted weights (no input gradient of the first layer): the
    # convolutions are nearly all of it
    convolutions = 3 * _conv4_forward_flops(3 + 6)
    assert 0.95 * convolutions < one_task < 1.3 * convolutions
    profile = out["profile"]
    shares = [row["share"] for row in profile["top_op_types"]]
    assert len(shares) == 4 and shares == sorted(shares, reverse=True) and sum(shares) <= 1.0001
    assert profile["op_self_time_sec"] > 0
    assert any("Conv2D" in row["type"] for row in profile["top_op_types"])


def test_graph_flops_counts_a_matmul_as_two_flops_per_multiply_add():
    import tensorflow as tf

    from bench.profiling import graph_flops
    assert graph_flops(lambda: tf.matmul(tf.ones([8, 4]), tf.ones([4, 2]))) == 2 * 8 * 4 * 2


def test_protonet_update_counts_one_batched_pass_of_the_max_pooled_embedding():
    out, _ = _bench("--algorithm=protonet", "--inner_steps=0", "--ways=3", "--tasks=2",
                    "--queries=2", "--repeats=2", "--warmup=1", "--flops")
    assert (out["algorithm"], out["inner_steps"], out["tasks"]) == ("protonet", 0, 2)
    assert 0 < out["min_sec"] <= out["sec_per_meta_update"] <= out["max_sec"]
    assert math.isfinite(out["final_loss"]) and out["final_loss"] > 0
    # Snell et al.'s Conv-4: stride-1 convolutions, each followed by a 2x2 max-pool
    forward, side, channels = 0, 28, 1
    for _ in range(4):
        forward += 2 * side * side * channels * 64 * 9
        side, channels = side // 2, 64
    images = 2 * 3 * (1 + 2)  # every image of both episodes, in one pass and its gradient
    assert 0.95 * 3 * forward * images < out["flops_per_meta_update"] < 1.3 * 3 * forward * images
