"""Table 1 of paper 000 for MAML-GAN runs: adapt each run per test task, score it with a critic.

Rows: Real, Not pre-trained, FIGR, MetaSGD-GAN, MAML-GAN, FOMAML-GAN. Each run
is reloaded (:func:`load_run`), turned into a generic source with
:func:`generator_source` (the run's own inner loop on per-step batches of each
task's support set, then its generator on fixed latents) and scored by
:func:`tfmeta.eval.evaluate_source`, like the real images of the "Real" row.

Example:
    >>> rows = evaluate_runs(EvaluationRequest(runs=("runs/maml",), critic="runs/critic"))
    >>> print(tfmeta.eval.markdown_table(rows))
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import tensorflow as tf

from tfmeta.data import ClassDataset
from tfmeta.data.support import step_batches
from tfmeta.eval import (GenerationEvalConfig, Source, adapted_source, evaluate_source,
                         labels_for_class_ids, load_critic, real_source)
from tfmeta.experiments.maml_gan import adapted_params, load_run, params_of, read_config
from tfmeta.gan import generate

__all__ = ["ROW_NAMES", "ROW_ORDER", "EvaluationRequest", "evaluate_runs", "generator_source"]

ROW_NAMES = {"scratch": "Not pre-trained", "reptile": "FIGR", "metasgd": "MetaSGD-GAN",
             "maml": "MAML-GAN", "fomaml": "FOMAML-GAN"}
ROW_ORDER = ["Real"] + list(ROW_NAMES.values())


@dataclasses.dataclass(frozen=True)
class EvaluationRequest:
    """What to evaluate; see ``trainers/evaluate.py`` for each field."""
    runs: tuple
    critic: str
    tasks: int = 256
    samples: int = 4096
    adapt_steps: int = 10
    support_size: int = 32
    seed: int = 0
    real: bool = True
    data_dir: str | None = None
    download: bool = True


def generator_source(setup, dataset: ClassDataset, *, support_size: int, adapt_steps: int,
                     seed: int = 0, chunk: int = 512) -> Source:
    """Adapts the run's players on each task's support set, then samples its generator.

    Args:
      setup: a restored run (:func:`load_run`).
      dataset: the meta-test classes.
      support_size: images of the task available for adaptation; every inner
        step uses ``setup.config.batch_size`` of them.
      adapt_steps: inner steps (10 in paper 000).
      seed: of supports, batches, latents.
      chunk: samples generated per call.

    Raises:
      ValueError: the support set is smaller than the run's batch size.
    """
    batch = setup.config.batch_size
    if batch > support_size:
        raise ValueError(f"`support_size`={support_size} is smaller than the run's "
                         f"batch_size={batch}; every adaptation step uses batch_size images "
                         f"of the support set")
    init = params_of(setup)

    @tf.function(reduce_retracing=True)
    def adapt_fn(images, task_seed):
        batches = step_batches(images, adapt_steps, batch, task_seed)
        return adapted_params(setup, init, batches, task_seed, adapt_steps)["generator"]

    @tf.function(reduce_retracing=True)
    def sample_fn(g_params, z):
        return generate(setup.generator, g_params, z)

    return adapted_source(adapt_fn, sample_fn, dataset, support_size=support_size,
                          latent_dim=setup.config.latent_dim, seed=seed, chunk=chunk)


def evaluate_runs(request: EvaluationRequest,
                  progress: Callable[[str, int, int], None] | None = None) -> list[dict]:
    """Scores every run (and real images) with the critic; rows in Table 1 order.

    Raises:
      ValueError: no runs, runs on different datasets, or a critic that does
        not fit them.
      FileNotFoundError: a run without checkpoint or a missing critic.
    """
    if not request.runs:
        raise ValueError("`runs` is empty; give at least one run directory")
    configs = [read_config(r) for r in request.runs]
    datasets = {c.dataset for c in configs}
    if len(datasets) != 1:
        raise ValueError(f"`runs` mix datasets {sorted(datasets)}; evaluate one dataset at a time")
    dataset_name = datasets.pop()
    critic, info = load_critic(request.critic)
    if info.get("dataset") != dataset_name:
        raise ValueError(f"`critic`={request.critic} was trained on {info.get('dataset')!r} but "
                         f"the runs are on {dataset_name!r}; train a critic on {dataset_name!r}")
    overrides = {"data_dir": request.data_dir, "download": request.download}
    rows = []
    splits = None
    for path, config in zip(request.runs, configs):
        setup, splits = load_run(path, **overrides)
        test = splits.test
        if tuple(info.get("image_shape", test.image_shape)) != tuple(test.image_shape):
            raise ValueError(f"`critic`={request.critic} takes images of shape "
                             f"{info['image_shape']} but run {path} makes {test.image_shape}")
        labels = labels_for_class_ids(info["class_ids"], test.class_ids)
        if int(info["num_classes"]) < test.num_classes:
            raise ValueError(f"the critic has {info['num_classes']} classes, fewer than the "
                             f"{test.num_classes} test classes of run {path}")
        support = min(request.support_size, int(test.counts.numpy().min()))
        eval_config = GenerationEvalConfig(tasks=request.tasks, samples=request.samples,
                                           adapt_steps=request.adapt_steps,
                                           support_size=support, seed=request.seed)
        source = generator_source(setup, test, support_size=support,
                                  adapt_steps=request.adapt_steps, seed=request.seed)
        name = ROW_NAMES[config.algorithm]
        if any(r["name"] == name for r in rows):
            name = f"{name} ({os.path.basename(os.path.normpath(path))})"
        report = _progress(progress, name, request.tasks)
        row = evaluate_source(source, test, critic, labels, eval_config, report)
        rows.append(dict(name=name, run=path, algorithm=config.algorithm,
                         dataset=dataset_name, step=int(setup.checkpoint.step.numpy()),
                         support=support, adapt_steps=request.adapt_steps, **row))
    if request.real:
        test = splits.test
        labels = labels_for_class_ids(info["class_ids"], test.class_ids)
        support = min(request.support_size, int(test.counts.numpy().min()))
        eval_config = GenerationEvalConfig(tasks=request.tasks, samples=request.samples,
                                           support_size=support, seed=request.seed)
        row = evaluate_source(real_source(test, request.seed), test, critic, labels,
                              eval_config, _progress(progress, "Real", request.tasks))
        rows.append(dict(name="Real", run=None, algorithm="real", dataset=dataset_name, **row))
    rows.sort(key=lambda r: next((i for i, n in enumerate(ROW_ORDER) if r["name"].startswith(n)),
                                 len(ROW_ORDER)))
    return rows


def _progress(progress, name, total):
    if progress is None:
        return None
    return lambda done: progress(name, done, total)
