"""Exports of MAML-GAN runs as TF Serving model versions (what the export CLIs call).

* :func:`export_run`: the meta-learned GAN with in-graph adaptation
  (:class:`export.module.AdaptationModule`) as a new version of ``BASE/NAME``;
* :func:`export_adapted`: a generator adapted on given images
  (:class:`export.module.GeneratorModule`) as a new version of ``BASE/NAME``.

Each version also holds ``assets.extra/tfmeta_export.json``: the image shape,
latent size, bounds and adaptation settings a client needs (TF Serving ignores
the folder).

Example:
    >>> path = export_run("runs/mnist_maml", "exports/mnist_gan", adapt_steps=10)
    >>> path
    'exports/mnist_gan/1'
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from export.module import AdaptationModule, GeneratorModule
from export.versions import write_new_version
from serving.images import read_support_folder
from tfmeta.experiments import maml_gan

METADATA_FILE = os.path.join("assets.extra", "tfmeta_export.json")


def load_setup(workdir: str, data_dir: str | None = None,
               download: bool | None = None) -> maml_gan.Setup:
    """Restores the run in ``workdir`` (its dataset is read for the image shape).

    ``data_dir`` / ``download`` override the run's own settings, e.g. when the
    run was trained on another machine.
    """
    overrides: dict[str, Any] = {}
    if data_dir:
        overrides["data_dir"] = data_dir
    if download is not None:
        overrides["download"] = download
    setup, _ = maml_gan.load_run(workdir, **overrides)
    if setup.config.algorithm == "scratch":
        logging.warning("%s is a scratch run: its initialization is random, not meta-learned",
                        workdir)
    return setup


def save_module(module: tf.Module, path: str, metadata: dict) -> None:
    """``tf.saved_model.save`` with the module's signatures, plus the metadata JSON."""
    tf.saved_model.save(module, path, signatures=module.signatures())
    meta_path = os.path.join(path, METADATA_FILE)
    os.makedirs(os.path.dirname(meta_path), exist_ok=True)
    with open(meta_path, "w") as f:
        json.dump(metadata, f, indent=2, sort_keys=True)
        f.write("\n")


def read_metadata(version_dir: str) -> dict:
    """The ``tfmeta_export.json`` of an exported version."""
    with open(os.path.join(version_dir, METADATA_FILE)) as f:
        return json.load(f)


def export_run(workdir: str, model_dir: str, *, adapt_steps: int | None = None,
               max_samples: int = 1024, max_support: int = 256,
               data_dir: str | None = None, download: bool | None = None) -> str:
    """Writes the run's meta-learned GAN with in-graph adaptation as a new version.

    Args:
      workdir: a MAML-GAN run (``trainers.maml_gan``).
      model_dir: ``BASE/NAME``; the version goes to ``BASE/NAME/<next>``.
      adapt_steps: inner steps of the served adaptation (default: the run's
        ``inner_steps``, what the initialization was meta-trained for).
      max_samples: largest ``num_samples`` / ``z`` batch of a request.
      max_support: largest support set of a request.
      data_dir, download: override the run's dataset location.

    Returns:
      The version directory.
    """
    setup = load_setup(workdir, data_dir, download)
    module = AdaptationModule(setup, adapt_steps=adapt_steps or setup.config.inner_steps,
                              max_samples=max_samples, max_support=max_support)
    metadata = dict(module.metadata(), kind="adaptation", run=os.path.abspath(workdir),
                    step=int(setup.checkpoint.step.numpy()))
    return write_new_version(model_dir, lambda path: save_module(module, path, metadata))


def export_adapted(workdir: str, model_dir: str, support: np.ndarray | str, *, seed: int = 0,
                   adapt_steps: int | None = None, max_samples: int = 1024,
                   invert: bool = False, data_dir: str | None = None,
                   download: bool | None = None) -> str:
    """Adapts the run on ``support`` and writes the adapted generator as a new version.

    The weights are exactly what the ``adapt`` signature of :func:`export_run`'s
    model returns for the same images, seed and steps (the same traced function).

    Args:
      workdir: a MAML-GAN run.
      model_dir: ``BASE/NAME``.
      support: float32 ``[n, H, W, C]`` in ``[-1, 1]``, or a folder of images
        (read by :func:`serving.images.read_support_folder` at the run's image size).
      seed: the request seed of the adaptation.
      adapt_steps: as in :func:`export_run`.
      max_samples: largest ``z`` batch of a request to the adapted generator.
      data_dir, download: override the run's dataset location.
      invert: negate images read from a folder (dark ink on white paper).

    Returns:
      The version directory.

    Raises:
      tf.errors.InvalidArgumentError: if ``support`` has the wrong shape or values.
      FileNotFoundError, ValueError: for a missing or empty folder.
    """
    setup = load_setup(workdir, data_dir, download)
    image_shape = tuple(int(s) for s in setup.generator.output_shape[1:])
    source = None
    if isinstance(support, str):
        source = os.path.abspath(support)
        support = read_support_folder(support, image_shape, invert=invert)
    support = np.asarray(support, np.float32)
    adapter = AdaptationModule(setup, adapt_steps=adapt_steps or setup.config.inner_steps,
                               max_support=max(len(support), 1))
    adapted = adapter.adapt(tf.constant(support), tf.constant(seed, tf.int32))
    params = [adapted[name] for name in adapter.output_names]
    module = GeneratorModule(setup.generator, params, max_samples=max_samples)
    metadata = {"kind": "adapted_generator", "run": os.path.abspath(workdir),
                "step": int(setup.checkpoint.step.numpy()), "support_images": len(support),
                "support_source": source, "seed": seed, "adapt_steps": adapter.adapt_steps,
                "image_shape": list(adapter.image_shape), "latent_dim": adapter.latent_dim,
                "max_samples": max_samples, "signatures": sorted(module.signatures())}
    return write_new_version(model_dir, lambda path: save_module(module, path, metadata))
