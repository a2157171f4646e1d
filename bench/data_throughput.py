"""Seconds to sample one MAML-GAN meta-batch, eagerly and inside ``tf.function``.

Run from the project root::

    python -m bench.data_throughput

and it prints one JSON line. The reference workload is MNIST meta-train
classes (digits 0-6), ``N = 4`` tasks, ``k = 10`` inner steps, ``B = 32``
images per inner step plus ``k`` validation batches of 32: one
``MetaBatchSampler(step)`` call, i.e. ``2 * 4 * 10 * 32 = 2560`` images of
28x28x1. After ``warmup`` calls (which also trace the ``tf.function``), each
mode is timed over ``repeats`` calls with a different step each, waiting for
the result to be computed; the JSON reports the median (and min/max) seconds
per meta-batch:

* ``eager_s``: ``sampler(step)`` called eagerly with a Python int step;
* ``function_s``: ``tf.function(sampler)`` called with a tensor step (no
  retracing), as inside a compiled training step.

The data is read from ``../shared/tensorflow_datasets`` next to the project
(override the folder holding ``tensorflow_datasets`` with the environment
variable ``TFMETA_SHARED_DIR``), without downloading. Loading is timed
separately (``load_s``) and excluded from the sampling numbers.

:func:`time_meta_batch` is importable, so another benchmark can put these
numbers next to the time of a meta-step.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import tensorflow as tf

from tfmeta.data import MetaBatchSampler, load_class_dataset


def shared_tfds_dir() -> Path:
    """``$TFMETA_SHARED_DIR/tensorflow_datasets``, default ``<project>/../shared/...``."""
    shared = os.environ.get("TFMETA_SHARED_DIR")
    root = Path(shared) if shared else Path(__file__).resolve().parents[1] / ".." / "shared"
    return root / "tensorflow_datasets"


def _block(task) -> None:
    """Waits until every tensor of ``task`` is computed (GPU ops run asynchronously)."""
    for t in tf.nest.flatten(task):
        if t.shape.num_elements():
            tf.reshape(t, [-1])[-1].numpy()


def _time(fn, steps) -> list[float]:
    times = []
    for step in steps:
        start = time.perf_counter()
        _block(fn(step))
        times.append(time.perf_counter() - start)
    return times


def _summary(times: list[float]) -> dict:
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def time_meta_batch(dataset: str = "mnist", *, tasks: int = 4, inner_steps: int = 10,
                    batch_size: int = 32, repeats: int = 50, warmup: int = 5,
                    data_dir: str | os.PathLike | None = None, download: bool = False,
                    seed: int = 0) -> dict:
    """Times one meta-batch of ``dataset``'s meta-train classes, eager and compiled.

    Args:
      dataset: a name for :func:`tfmeta.data.load_class_dataset`.
      tasks: ``N`` tasks per meta-batch.
      inner_steps: ``k`` inner batches (and ``max(k, 1)`` validation batches).
      batch_size: ``B`` images per batch.
      repeats: timed calls per mode.
      warmup: untimed calls per mode first.
      data_dir: TFDS data directory (default: :func:`shared_tfds_dir`).
      download: let TFDS download a missing dataset.
      seed: the sampler's seed.

    Returns:
      A JSON-ready dict: the workload, ``eager_s`` and ``function_s`` (median
      seconds per meta-batch), their min/max, ``images_per_meta_batch``,
      ``load_s`` and the device.

    Example:
        >>> result = time_meta_batch(repeats=10)
        >>> result["function_s"] < 1.0
        True
    """
    data_dir = shared_tfds_dir() if data_dir is None else data_dir
    start = time.perf_counter()
    splits = load_class_dataset(dataset, data_dir=data_dir, download=download)
    load_s = time.perf_counter() - start
    sampler = MetaBatchSampler(splits.train, tasks=tasks, inner_steps=inner_steps,
                               batch_size=batch_size, seed=seed)
    compiled = tf.function(sampler)

    def compiled_call(step):
        return compiled(tf.constant(step, tf.int64))

    results = {}
    for mode, fn in (("eager", sampler), ("function", compiled_call)):
        _time(fn, range(warmup))
        results[mode] = _summary(_time(fn, range(warmup, warmup + repeats)))
    gpus = tf.config.list_logical_devices("GPU")
    return {
        "benchmark": "data_throughput",
        "dataset": dataset,
        "tasks": tasks,
        "inner_steps": inner_steps,
        "batch_size": batch_size,
        "images_per_meta_batch": tasks * (inner_steps + max(inner_steps, 1)) * batch_size,
        "image_shape": list(splits.train.image_shape),
        "repeats": repeats,
        "warmup": warmup,
        "eager_s": results["eager"]["median"],
        "function_s": results["function"]["median"],
        "eager_min_max_s": [results["eager"]["min"], results["eager"]["max"]],
        "function_min_max_s": [results["function"]["min"], results["function"]["max"]],
        "load_s": load_s,
        "device": gpus[0].name if gpus else "CPU",
        "tensorflow": tf.__version__,
    }


def main() -> None:
    """Prints the reference workload's timings as one JSON line."""
    print(json.dumps(time_meta_batch()))


if __name__ == "__main__":
    main()
