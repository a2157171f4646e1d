"""Exports of runs as TF Serving model versions: the glue that knows the experiments.

* :func:`export_run`: a MAML-GAN run's meta-learned GAN with in-graph adaptation
  (:class:`export.module.AdaptationModule`, built by :func:`adaptation_module`
  with ``maml_gan.adapted_params`` as its adapt function) as a new version of
  ``BASE/NAME``;
* :func:`export_adapted`: a generator adapted on given images
  (:class:`export.module.GeneratorModule`) as a new version of ``BASE/NAME``;
* :func:`run_kind` tells a few-shot classification run from a MAML-GAN run;
  the former exports through :mod:`export.classifier_api` (``adapt_and_classify``
  for both families of few-shot learners).

Each version also holds ``assets.extra/tfmeta_export.json``: the image shape,
latent size or classes, bounds and adaptation settings a client needs (TF
Serving ignores the folder). A run that never trained (step 0) is refused unless
``allow_untrained``: its weights are a random initialization.

Example:
    >>> export_run("runs/mnist_maml", "exports", "mnist_gan", adapt_steps=10)
    'exports/mnist_gan/1'
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from export.module import AdaptationModule, GeneratorModule
from export.versions import write_new_version
from serving.images import background_of, matched_support, read_support_folder
from tfmeta import checks
from tfmeta.experiments import maml_gan, rundir
from tfmeta.savedmodel import common
from tfmeta.savedmodel.common import save_module

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")   # as serving.models_config


def error_line(error: Exception) -> str:
    """One line for a CLI's ``error: ...``: the message of an in-graph check, or ``str(error)``.

    Backticked settings that are flags of the running program read as ``--flags``.

    An ``InvalidArgumentError`` of an Assert reads ``assertion failed: [rule; got] [values]``
    followed by the node; only the first line is kept.
    """
    from trainers.common import to_flags
    message = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return to_flags(lines[0]) if lines else type(error).__name__

read_metadata = common.read_metadata   # the metadata of an exported version


def model_dir(export_dir: str, name: str) -> str:
    """``BASE/NAME``; ``name`` must be a plain model name (it becomes a folder and a URL part)."""
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        raise ValueError(f"--name must be a model name (a letter or digit, then letters, "
                         f"digits, '_', '.', '-'), got {name!r}")
    if not export_dir:
        raise ValueError("--export_dir must be a folder (the base of all served models), "
                         f"got {export_dir!r}")
    return os.path.join(export_dir, name)


def run_kind(workdir: str) -> str:
    """``"few_shot"`` or ``"maml_gan"``: the kind of run in ``workdir``.

    A few-shot classification run's ``config.json`` has ``ways`` and ``shots``;
    anything else (also a folder without a run, whose export then says what is
    missing) takes the MAML-GAN path.
    """
    settings = rundir.stored_settings(workdir) or {}
    return "few_shot" if {"ways", "shots"} <= set(settings) else "maml_gan"


def _overrides(data_dir: str | None, download: bool | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if data_dir:
        overrides["data_dir"] = data_dir
    if download is not None:
        overrides["download"] = download
    return overrides


def _refuse_untrained(setup, workdir: str, allow_untrained: bool) -> None:
    if int(setup.checkpoint.step.numpy()) == 0 and not allow_untrained:
        raise ValueError(f"{workdir} is at step 0: its weights are the random initialization, "
                         "not meta-learned; train it first, or pass --allow_untrained to "
                         "export it anyway")


def load_setup(workdir: str, data_dir: str | None = None, download: bool | None = None,
               allow_untrained: bool = False) -> maml_gan.MamlGanSetup:
    """Restores the run in ``workdir`` (its dataset is read for the image shape).

    ``data_dir`` / ``download`` override the run's own settings, e.g. when the
    run was trained on another machine. Raises ValueError for a run at step 0
    unless ``allow_untrained``.
    """
    return _load(workdir, data_dir, download, allow_untrained)[0]


def _load(workdir, data_dir, download, allow_untrained) -> tuple[maml_gan.MamlGanSetup, str]:
    """``(setup, background)``: :func:`load_setup` and its training data's background."""
    setup, splits = maml_gan.load_run(workdir, **_overrides(data_dir, download))
    _refuse_untrained(setup, workdir, allow_untrained)
    if setup.config.algorithm == "scratch":
        logging.warning("%s is a scratch run: its initialization is random, not meta-learned",
                        workdir)
    return setup, data_background(splits.train)


def data_background(dataset) -> str:
    """``"dark"``, ``"light"`` or ``"any"``: the background of a class dataset's images
    (:func:`serving.images.background_of` over up to 8 images of each of 16 classes)."""
    classes = range(min(16, dataset.num_classes))
    sample = np.concatenate([np.asarray(dataset.class_images(c))[:8] for c in classes])
    return background_of(sample)


def adaptation_module(setup: maml_gan.MamlGanSetup, *, adapt_steps: int | None = None,
                      max_samples: int = 1024, max_support: int = 256) -> AdaptationModule:
    """The run's serving module: its players' weights and ``maml_gan.adapted_params``.

    ``adapt_steps`` defaults to the run's ``serve_steps`` if set (the CPU
    recipe's 80), else its ``inner_steps`` (what the initialization was
    meta-trained for).
    """
    steps = setup.config.served_steps() if adapt_steps is None else adapt_steps

    def adapt_fn(params, batches, seed):
        return maml_gan.adapted_params(setup, params, batches, seed, steps)

    generator, discriminator = setup.generator, setup.discriminator
    extra = {"learning_rates": {p: list(opt.variables) for p, opt in setup.inner.items()},
             "non_trainable": list(generator.non_trainable_variables
                                   + discriminator.non_trainable_variables)}
    return AdaptationModule(
        generator, {"generator": generator.trainable_variables,
                    "discriminator": discriminator.trainable_variables}, adapt_fn,
        latent_dim=int(setup.config.latent_dim),
        image_shape=[int(s) for s in generator.output_shape[1:]],
        batch_size=setup.config.batch_size, adapt_steps=steps, max_samples=max_samples,
        max_support=max_support, extra_variables=extra)


def _run_metadata(setup: maml_gan.MamlGanSetup, workdir: str) -> dict:
    config = setup.config
    return {"run": os.path.abspath(workdir), "step": int(setup.checkpoint.step.numpy()),
            "algorithm": config.algorithm, "loss": config.loss,
            "inner_optimizer": setup.inner["generator"].name,
            "inner_lrs": config.inner_lrs()}


def export_run(workdir: str, export_dir: str, name: str, *, adapt_steps: int | None = None,
               max_samples: int = 1024, max_support: int = 256, data_dir: str | None = None,
               download: bool | None = None, allow_untrained: bool = False) -> str:
    """Writes the run's meta-learned GAN with in-graph adaptation as a new version.

    Args:
      workdir: a MAML-GAN run (``trainers.maml_gan``).
      export_dir, name: the version goes to ``export_dir/name/<next>``.
      adapt_steps: inner steps of the served adaptation (default: the run's
        ``serve_steps`` if set, else its ``inner_steps``).
      max_samples: largest ``num_samples`` / ``z`` batch of a request.
      max_support: largest support set of a request.
      data_dir, download: override the run's dataset location.
      allow_untrained: export a run at step 0 too.

    Returns:
      The version directory.
    """
    target = model_dir(export_dir, name)
    setup, background = _load(workdir, data_dir, download, allow_untrained)
    module = adaptation_module(setup, adapt_steps=adapt_steps, max_samples=max_samples,
                               max_support=max_support)
    metadata = dict(module.metadata(), kind="adaptation", background=background,
                    **_run_metadata(setup, workdir))
    return write_new_version(target, lambda path: save_module(module, path, metadata))


def check_support(support: np.ndarray, image_shape: tuple) -> np.ndarray:
    """``support`` as float32 ``[n >= 1, *image_shape]``, or a one-line ValueError."""
    support = np.asarray(support, np.float32)
    if support.ndim != len(image_shape) + 1 or tuple(support.shape[1:]) != tuple(image_shape):
        raise ValueError(f"support images must have shape [n, {', '.join(map(str, image_shape))}]"
                         f" (the run's image shape), got {list(support.shape)}")
    if len(support) == 0:
        raise ValueError("support images: got none; adaptation needs at least one image")
    return support


def export_adapted(workdir: str, export_dir: str, name: str, support: np.ndarray | str, *,
                   seed: int = 0, adapt_steps: int | None = None, max_samples: int = 1024,
                   invert: bool | None = None, data_dir: str | None = None,
                   download: bool | None = None, allow_untrained: bool = False) -> str:
    """Adapts the run on ``support`` and writes the adapted generator as a new version.

    The weights are exactly what the ``adapt`` signature of :func:`export_run`'s
    model returns for the same images, seed and steps (the same traced function).

    Args:
      workdir: a MAML-GAN run.
      export_dir, name: the version goes to ``export_dir/name/<next>``.
      support: float32 ``[n, H, W, C]`` in ``[-1, 1]``, or a folder of images
        (read by :func:`serving.images.read_support_folder` at the run's image size).
      seed: the request seed of the adaptation.
      adapt_steps: as in :func:`export_run`.
      max_samples: largest ``z`` batch of a request to the adapted generator.
      invert: negate the support images (``True``), keep them (``False``), or
        (``None``, default) negate them where their background is the opposite of the
        run's training data's (:func:`serving.images.matched_support`: dark ink scanned
        on white paper for an MNIST run); what was done is the metadata's
        ``support_polarity``.
      data_dir, download: override the run's dataset location.
      allow_untrained: export a run at step 0 too.

    Returns:
      The version directory.

    Raises:
      ValueError: wrong shape, a missing or empty folder, a step-0 run, a support set
        whose background is neither clearly dark nor clearly light (``invert=None``).
      tf.errors.InvalidArgumentError: values more than 1e-5 outside [-1, 1] (the in-graph
        check; closer ones are clipped).
    """
    target = model_dir(export_dir, name)
    seed = checks.bounded("seed", seed, -2**31, 2**31 - 1)
    setup, background = _load(workdir, data_dir, download, allow_untrained)
    image_shape = tuple(int(s) for s in setup.generator.output_shape[1:])
    source = None
    if isinstance(support, str):
        source = os.path.abspath(support)
        support = read_support_folder(support, image_shape)
    support, polarity = matched_support(check_support(support, image_shape), background, invert)
    adapter = adaptation_module(setup, adapt_steps=adapt_steps, max_support=len(support))
    adapted = adapter.adapt(tf.constant(support), tf.constant(seed, tf.int32))
    params = [adapted[n] for n in adapter.output_names]
    module = GeneratorModule(setup.generator, params, max_samples=max_samples)
    metadata = {"kind": "adapted_generator", **_run_metadata(setup, workdir),
                "support_images": len(support), "support_source": source, "seed": seed,
                "background": background, "support_polarity": polarity,
                "adapt_steps": adapter.adapt_steps, "image_shape": list(image_shape),
                "latent_dim": adapter.latent_dim, "max_samples": module.max_samples,
                "signatures": sorted(module.signatures())}
    return write_new_version(target, lambda path: save_module(module, path, metadata))
