"""What every serving module shares: export-time bounds, request seeds, variable names, metadata.

* :func:`request_seeds`: a request's int32 ``seed`` becomes three streams
  (step batches, adaptation, output latents), the rule both the GAN and the
  classifier modules follow;
* :func:`variable_names`: the names of weights as signature outputs;
* :data:`IMAGE_RANGE` and :data:`IMAGE_TOLERANCE`: the pixels a request may send;
* :func:`save_module` writes a module with its signatures and
  ``assets.extra/tfmeta_export.json`` (:data:`METADATA_FILE`, what a client
  needs to know; TF Serving ignores the folder), :func:`read_metadata` reads it.

Example:
    >>> batch_seed, adapt_seed, latent_seed = request_seeds(tf.constant(7))
    >>> save_module(module, "exports/omniglot/1", module.metadata())
"""

from __future__ import annotations

import os
import re
from typing import Any, Sequence

import tensorflow as tf

from tfmeta.io import read_json, write_json

METADATA_FILE = os.path.join("assets.extra", "tfmeta_export.json")
# Limits on the export-time bounds themselves (the step batches are drawn step by step in the
# graph; the inner steps run as one loop).
MAX_ADAPT_STEPS = 100
MAX_BOUND = 1 << 20
# Images a request may send: float32 in IMAGE_RANGE; values up to IMAGE_TOLERANCE outside it
# (an antialiased resize overshoots by about 5e-7) are clipped into it, others refused.
IMAGE_RANGE = (-1.0, 1.0)
IMAGE_TOLERANCE = 1e-5

_BATCH_STREAM, _ADAPT_STREAM, _LATENT_STREAM = 0, 1, 2


def request_seeds(seed: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The int32 ``[2]`` seeds ``(batches, adaptation, latents)`` of a request's scalar ``seed``.

    Example:
        >>> batch_seed, adapt_seed, latent_seed = request_seeds(tf.constant(7))
    """
    seed = tf.cast(seed, tf.int32)
    base = tf.stack([seed, tf.zeros_like(seed)])
    fold = tf.random.experimental.stateless_fold_in
    return fold(base, _BATCH_STREAM), fold(base, _ADAPT_STREAM), fold(base, _LATENT_STREAM)


def variable_names(variables: Sequence[Any], model_name: str | None = None) -> list[str]:
    """Output names of the ``adapt`` signature: variable paths with ``/`` -> ``_``.

    ``"deconv1/kernel"`` (or ``"generator/deconv1/kernel"`` for ``model_name``
    ``"generator"``) -> ``"deconv1_kernel"``. Raises ValueError on a collision.
    """
    names = []
    for v in variables:
        path = getattr(v, "path", None) or v.name.split(":")[0]
        if model_name and path.startswith(model_name + "/"):
            path = path[len(model_name) + 1:]
        name = re.sub(r"[^A-Za-z0-9_]", "_", path).strip("_")
        if not name or not name[0].isalpha():
            name = "w_" + name
        names.append(name)
    if len(set(names)) != len(names):
        raise ValueError(f"variable names collide after sanitizing: {names}")
    return names


def tf_variable(v: Any) -> tf.Variable:
    """The ``tf.Variable`` behind a Keras variable (saved once; a TF1 loader restores it)."""
    return v if isinstance(v, tf.Variable) else v.value


class Untracked:
    """Holds Python objects on a ``tf.Module`` without the module tracking (saving) them."""

    def __init__(self, **objects: Any):
        self.__dict__.update(objects)




def save_module(module: tf.Module, path: str, metadata: dict) -> None:
    """``tf.saved_model.save`` with the module's signatures, plus the metadata JSON."""
    tf.saved_model.save(module, path, signatures=module.signatures())
    write_json(os.path.join(path, METADATA_FILE), metadata)


def read_metadata(version_dir: str) -> dict:
    """The ``tfmeta_export.json`` of an exported version."""
    return read_json(os.path.join(version_dir, METADATA_FILE))
