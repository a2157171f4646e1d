"""Pytest configuration shared by every test.

``tf.test.TestCase`` carries a legacy ``test_session`` method that pytest would
collect and report as skipped; it is not a test, so it is deselected here.
Subprocesses that tests start inherit the environment set here.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The README runs the suite in two processes (pytest-xdist, ``-n 2``); on a GPU each
# would otherwise claim all of its memory at start and starve the other.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


def pytest_collection_modifyitems(config, items):
    keep = [item for item in items if item.name != "test_session"]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i.name == "test_session"])
        items[:] = keep
