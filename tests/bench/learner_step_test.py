"""bench.learner_step times a learner's training step on real Omniglot episodes (tiny sizes).

Both runs call its main in this process (:func:`tests.export.fixtures.run_cli`); the refusals
run it as a process, as a user would.
"""

import contextlib
import functools
import io
import json
import os
import subprocess
import sys

import pytest

from tests.export.fixtures import run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@functools.lru_cache(maxsize=None)
def _bench(*flags):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code, stdout = run_cli("bench.learner_step", *flags, "--repeats=2", "--warmup=1")
    assert code in (0, None), (code, err.getvalue()[-3000:])
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("{"), stdout  # progress goes to stderr
    return json.loads(lines[0]), err.getvalue()


@pytest.mark.parametrize("algorithm,training_ways,queries,episodes", [
    ("protonet", 60, 5, 1),  # the CPU recipe: 60-way training episodes, 5 queries per class
    ("fomaml", 5, 15, 2)])
def test_times_sampling_and_the_update_of_the_recipe_on_real_episodes(algorithm, training_ways,
                                                                      queries, episodes):
    out, err = _bench(f"--algorithm={algorithm}", f"--meta_batch_size={episodes}")
    assert (out["algorithm"], out["preset"], out["ways"], out["shots"]) == (algorithm, "cpu", 5, 1)
    assert (out["training_ways"], out["training_queries"], out["meta_batch_size"]) == (
        training_ways, queries, episodes)
    assert out["images_per_meta_batch"] == episodes * training_ways * (1 + queries)
    for name in ("sample_sec", "update_sec", "step_sec"):
        assert 0 < out[f"{name}_min"] <= out[name] <= out[f"{name}_max"], name
    assert out["updates_per_sec"] == pytest.approx(1 / out["step_sec"])
    assert out["sample_share"] == pytest.approx(
        out["sample_sec"] / (out["sample_sec"] + out["update_sec"]))
    assert out["peak_rss_mb"] >= out["rss_before_first_update_mb"] > 100
    assert out["threads"] >= 1 and out["warmup_sec"] > 0
    assert f"learner_step: {algorithm}: 1 warm-up updates" in err


def test_bad_flags_are_refused_with_one_line_naming_them():
    for flags, message in [(["--algorithm=nope"], "flag --algorithm=nope: value should be one of"),
                           (["--ways=1"], "flag --ways=1: 1 is not integer >= 2"),
                           (["--data_dir=no/such/dir"], "no/such/dir")]:
        proc = subprocess.run([sys.executable, "-m", "bench.learner_step", *flags], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert message in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: "), proc.stderr[-2000:]
