"""Fixtures of the tfmeta.eval tests: the offline MNIST, loaded once per session.

The data is found by ``tests.shared`` (``../shared/tensorflow_datasets`` next to
the project root, or under ``$TFMETA_SHARED_DIR``); it is required, so a missing
copy fails with a clear message instead of skipping.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import shared
from tfmeta.data import load_class_dataset


@pytest.fixture(scope="session")
def tfds_dir() -> Path:
    return shared.tfds_dir()


@pytest.fixture(scope="session")
def mnist(tfds_dir):
    return load_class_dataset("mnist", data_dir=tfds_dir, download=False)
