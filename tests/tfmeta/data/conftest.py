"""Shared fixtures of the tfmeta.data tests: the offline data, loaded once per session.

The data lives next to the project in ``../shared`` (override with the
environment variable ``TFMETA_SHARED_DIR``): ``tensorflow_datasets/`` holds the
prepared TFDS data (mnist, fashion_mnist, omniglot), ``data/omniglot/`` the
Omniglot image folders. Tests that need it fail with a clear message when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tfmeta.data import load_class_dataset


def shared_dir() -> Path:
    """``$TFMETA_SHARED_DIR``, default ``<project root>/../shared``."""
    env = os.environ.get("TFMETA_SHARED_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / ".." / "shared"


@pytest.fixture(scope="session")
def tfds_dir() -> Path:
    path = shared_dir() / "tensorflow_datasets"
    if not (path / "mnist").is_dir():
        pytest.fail(f"no prepared TFDS data in {path} (set TFMETA_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def small1_dir() -> Path:
    path = shared_dir() / "data" / "omniglot" / "background_small1"
    if not path.is_dir():
        pytest.fail(f"no Omniglot image folder at {path} (set TFMETA_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def mnist(tfds_dir):
    return load_class_dataset("mnist", data_dir=tfds_dir, download=False)


@pytest.fixture(scope="session")
def omniglot(tfds_dir):
    return load_class_dataset("omniglot", data_dir=tfds_dir, download=False)
