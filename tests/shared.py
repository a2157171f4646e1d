"""Where the tests find the offline data: ``../shared`` next to the project root.

Override with the environment variable ``TFMETA_SHARED_DIR``. The data is required:
tests that need it fail with a clear message when it is absent (they never skip).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The one error line a CUDA build of TensorFlow prints on a machine with a CUDA runtime but
# no GPU (this workplace's CPU machines): allowed where a test wants no error lines.
NO_GPU_CUINIT = re.compile(r"^E\d{4} [\d:.]+ +\d+ cuda_platform\.cc:\d+\] failed call to cuInit: "
                           r"INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR \(303\)$")


def shared_dir() -> Path:
    """``$TFMETA_SHARED_DIR``, default ``<project root>/../shared``."""
    env = os.environ.get("TFMETA_SHARED_DIR")
    return Path(env) if env else (ROOT / ".." / "shared").resolve()


def tfds_dir() -> Path:
    """The prepared TFDS data directory (mnist, fashion_mnist, omniglot)."""
    path = shared_dir() / "tensorflow_datasets"
    if not (path / "mnist").is_dir():
        raise FileNotFoundError(
            f"no prepared TFDS data in {path}; the tests need ../shared next to the project "
            "root (or TFMETA_SHARED_DIR pointing at it)")
    return path


def forget_setting(workdir: str, name: str) -> None:
    """Removes ``name`` from ``workdir/config.json``: the run as a version before the field
    existed stored it."""
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
        stored = json.load(f)
    del stored[name]
    with open(path, "w") as f:
        json.dump(stored, f)
