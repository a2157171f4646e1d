"""Pytest configuration shared by every test: the two tiers, and what every test shares.

The tiers: :data:`SLOW` lists the end-to-end tests (trainers, export and serving,
benchmarks, experiments, multi-process and the heaviest exactness sweeps); they
carry the ``slow`` marker. The fast tier for the edit loop is
``python -m pytest -q -n 2 --dist loadfile -m "not slow" tests`` (about 3
minutes on 2 cores); the README's command runs both tiers (about 12 minutes; bench/README.md).

The order of files under ``--dist loadfile`` (the README's command): xdist hands out whole
files, by default those with the most tests first, which puts end-to-end files of one to four
long tests (tests/tfmeta/keras_guide_test.py, tests/trainers/maml_rl_cheetah_test.py,
tests/trainers/distribute_test.py) last, where one worker runs the last of them while the
other has nothing left. Here the files of the slow tier go first, in collection order, and the
many short files of the fast tier last, to fill the gap (bench/README.md); no test is added,
dropped or changed.

``tf.test.TestCase`` carries a legacy ``test_session`` method that pytest would
collect and report as skipped; it is not a test, so it is deselected here.
Subprocesses that tests start inherit the environment set here.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The README runs the suite in two processes (pytest-xdist, ``-n 2``); on a GPU each
# would otherwise claim all of its memory at start and starve the other.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
# TensorFlow's oneDNN CPU kernels, as the command-line tools turn them on (quiet_start): a run
# a test starts as a process and resumes in this one must compute alike.
from trainers.common import onednn_default  # noqa: E402

onednn_default()


# Node-id prefixes of the slow tier (a file, or a file's class).
SLOW = (
    "tests/trainers/", "tests/export/", "tests/serving/", "tests/bench/",
    "tests/tfmeta/experiments/", "tests/tfmeta/eval/generation_test.py",
    "tests/tfmeta/eval/critic_test.py", "tests/tfmeta/distribute_test.py",
    "tests/tfmeta/keras_guide_test.py", "tests/tfmeta/keras_test.py",
    "tests/tfmeta/algorithms/maml_test.py::LoopAndRematTest",
    "tests/tfmeta/algorithms/reused_test.py::ReusedEqualsCopiedTest",
    "tests/tfmeta/megan/objective_test.py::MetaGradientTest",
    "tests/tfmeta/rl/learner_test.py::TrainStepTest",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: an end-to-end or heavy test (the full tier only; "
                            "deselect with -m 'not slow')")
    if getattr(config.option, "dist", "no") == "loadfile":
        # xdist's queue keeps the file order of the workers' collection (below).
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    import pytest
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
    keep = [item for item in items if item.name != "test_session"]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i.name == "test_session"])
        items[:] = keep
    if hasattr(config, "workerinput"):   # a pytest-xdist worker: its collection is the queue
        # Files with a slow test first; a stable sort keeps each file's tests together and in
        # order (its classes' shared runs are made once).
        slow_files = {item.nodeid.split("::")[0] for item in items
                      if item.get_closest_marker("slow")}
        items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow_files)
