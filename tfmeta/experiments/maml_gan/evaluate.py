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

from tfmeta.algorithms import adapted_params_and_carry
from tfmeta.data import ClassDataset
from tfmeta.data.support import step_batches
from tfmeta.eval import (GenerationEvalConfig, Source, adapted_sources, evaluate_source,
                         evaluate_sources, labels_for_class_ids, load_critic, real_source,
                         served_source)
from tfmeta.experiments.maml_gan import load_data, load_run, params_of, read_config
from tfmeta.experiments.rundir import checkpoint_steps, selected_checkpoints
from tfmeta.gan import generate
from tfmeta.savedmodel.common import METADATA_FILE, read_metadata

__all__ = ["ROW_NAMES", "ROW_ORDER", "EvaluationRequest", "evaluate_runs", "generator_source",
           "generator_sources", "step_counts"]

ROW_NAMES = {"scratch": "Not pre-trained", "reptile": "FIGR", "metasgd": "MetaSGD-GAN",
             "maml": "MAML-GAN", "fomaml": "FOMAML-GAN"}
ROW_ORDER = ["Real"] + list(ROW_NAMES.values())


@dataclasses.dataclass(frozen=True)
class EvaluationRequest:
    """What to evaluate; see ``trainers/evaluate.py`` for each field.

    ``adapt_steps`` is one step count or several (each task adapts once, to the
    largest, and is scored at each); ``checkpoints`` is ``"latest"``, ``"all"``
    (every checkpoint a run kept, oldest first: how quality grows with
    meta-updates), or meta-update counts separated by commas (``"900,3600"``).
    ``adapt_lr_scale`` and ``discriminator_adapt_lr_scale`` replace each run's own
    (None: keep it); exports keep theirs.
    """
    runs: tuple
    critic: str
    exports: tuple = ()
    tasks: int = 256
    samples: int = 4096
    adapt_steps: int | tuple = 10
    support_size: int = 32
    seed: int = 0
    real: bool = True
    data_dir: str | None = None
    download: bool = True
    checkpoints: str = "latest"
    adapt_lr_scale: float | None = None
    discriminator_adapt_lr_scale: float | None = None

    def __post_init__(self):
        steps = step_counts(self.adapt_steps)
        object.__setattr__(self, "adapt_steps", steps[0] if len(steps) == 1 and isinstance(
            self.adapt_steps, int) else steps)
        if self.checkpoints not in ("latest", "all"):
            checkpoint_steps(self.checkpoints)


def step_counts(adapt_steps) -> tuple:
    """``adapt_steps`` (an int or a sequence of them) as a sorted tuple of distinct counts >= 1.

    Raises:
      ValueError: an empty sequence, a count below 1 or one that is not an integer.
    """
    counts = (adapt_steps,) if isinstance(adapt_steps, int) else tuple(adapt_steps)
    if not counts or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in counts):
        raise ValueError(f"`adapt_steps`={adapt_steps!r}; expected one or more integers >= 1")
    return tuple(sorted(set(counts)))


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
    return generator_sources(setup, dataset, support_size=support_size,
                             adapt_steps=(adapt_steps,), seed=seed, chunk=chunk)[adapt_steps]


def generator_sources(setup, dataset: ClassDataset, *, support_size: int, adapt_steps,
                      seed: int = 0, chunk: int = 512) -> dict[int, Source]:
    """:func:`generator_source` at several step counts of one adaptation: ``{steps: source}``.

    Each task adapts once, for the largest count, and the generator is kept at
    every count along the way: the 10-step source of an adaptation to 80 steps
    draws what :func:`generator_source` with ``adapt_steps=10`` draws (the
    per-step batches and seeds do not depend on the number of steps). Score the
    sources with :func:`tfmeta.eval.evaluate_sources`. The run's variables are
    read when this is called: call it again after restoring another checkpoint.
    """
    counts = step_counts(adapt_steps)
    batch = setup.config.batch_size
    if batch > support_size:
        raise ValueError(f"`support_size`={support_size} is smaller than the run's "
                         f"batch_size={batch}; every adaptation step uses batch_size images "
                         f"of the support set")
    init = params_of(setup)
    last = counts[-1]

    def keep(j, new, losses, kept):
        del losses
        return tuple([tf.where(tf.equal(j + 1, count), p, old) for p, old in
                      zip(new["generator"], olds)] for count, olds in zip(counts, kept))

    @tf.function(reduce_retracing=True)
    def adapt_fn(images, task_seed):
        batches = step_batches(images, last, batch, task_seed)
        start = tuple(list(init["generator"]) for _ in counts)
        _, kept = adapted_params_and_carry(setup.objective, init, batches, setup.inner,
                                           inner_steps=last, seed=task_seed, after_step=keep,
                                           carry=start)
        return kept

    @tf.function(reduce_retracing=True)
    def sample_fn(g_params, z):
        return generate(setup.generator, g_params, z)

    return adapted_sources(adapt_fn, sample_fn, dataset, marks=counts, support_size=support_size,
                           latent_dim=setup.config.latent_dim, seed=seed, chunk=chunk)


def evaluate_runs(request: EvaluationRequest,
                  progress: Callable[[str, int, int], None] | None = None) -> list[dict]:
    """Scores every run and export (and real images) with the critic; rows in Table 1 order.

    One row per run, checkpoint (``request.checkpoints``) and step count
    (``request.adapt_steps``), ordered by Table 1's rows, then meta-updates,
    then steps; each row has ``step`` (the checkpoint's meta-updates) and
    ``adapt_steps``. An export (``request.exports``) gives one row, "<row>
    (served)", scored through its own ``adapt_and_generate_from_z`` signature
    at the steps fixed in it (:func:`tfmeta.eval.served_source`).

    Raises:
      ValueError: no runs or exports, runs on different datasets, a folder that
        is not an adaptation export, or a critic that does not fit them.
      FileNotFoundError: a run without checkpoint or a missing critic.
    """
    if not request.runs and not request.exports:
        raise ValueError("`runs` and `exports` are empty; give at least one run directory")
    exports = [_export_metadata(e) for e in request.exports]
    configs = [read_config(r) for r in request.runs] + [read_config(m["run"]) for m in exports]
    datasets = {c.dataset for c in configs}
    if len(datasets) != 1:
        raise ValueError(f"`runs` mix datasets {sorted(datasets)}; evaluate one dataset at a time")
    dataset_name = datasets.pop()
    critic, info = load_critic(request.critic)
    if info.get("dataset") != dataset_name:
        raise ValueError(f"`critic`={request.critic} was trained on {info.get('dataset')!r} but "
                         f"the runs are on {dataset_name!r}; train a critic on {dataset_name!r}")
    counts = step_counts(request.adapt_steps)
    overrides = {"data_dir": request.data_dir, "download": request.download}
    rows, names = [], set()
    test = None

    def scoring(path, test):
        """``(labels, support)`` of the critic on ``test``, checked against it."""
        if tuple(info.get("image_shape", test.image_shape)) != tuple(test.image_shape):
            raise ValueError(f"`critic`={request.critic} takes images of shape "
                             f"{info['image_shape']} but run {path} makes {test.image_shape}")
        if int(info["num_classes"]) < test.num_classes:
            raise ValueError(f"the critic has {info['num_classes']} classes, fewer than the "
                             f"{test.num_classes} test classes of run {path}")
        return (labels_for_class_ids(info["class_ids"], test.class_ids),
                min(request.support_size, int(test.counts.numpy().min())))

    def unique(name, path):
        if name in names:
            name = f"{name} ({os.path.basename(os.path.normpath(path))})"
        names.add(name)
        return name

    scale = {name: value for name in ("adapt_lr_scale", "discriminator_adapt_lr_scale")
             if (value := getattr(request, name)) is not None}
    for path, config in zip(request.runs, configs):
        setup, splits = load_run(path, **overrides, **scale)
        test = splits.test
        labels, support = scoring(path, test)
        name = unique(ROW_NAMES[config.algorithm], path)
        paths = selected_checkpoints(path, request.checkpoints)
        for checkpoint in paths:
            if checkpoint is not None:
                setup.checkpoint.restore(checkpoint).assert_existing_objects_matched()
            step = int(setup.checkpoint.step.numpy())
            eval_config = GenerationEvalConfig(tasks=request.tasks, samples=request.samples,
                                               adapt_steps=counts[-1], support_size=support,
                                               seed=request.seed)
            sources = generator_sources(setup, test, support_size=support, adapt_steps=counts,
                                        seed=request.seed)
            label = name if checkpoint is None else f"{name} @ {step}"
            scored = evaluate_sources(sources, test, critic, labels, eval_config,
                                      _progress(progress, label, request.tasks))
            rows += [dict(name=name, run=path, algorithm=config.algorithm, dataset=dataset_name,
                          step=step, support=support, adapt_steps=count,
                          inner_lrs=setup.config.inner_lrs(), **scored[count])
                     for count in counts]
    for path, meta, config in zip(request.exports, exports, configs[len(request.runs):]):
        test = load_data(dataclasses.replace(config, **overrides)).test
        labels, support = scoring(meta["run"], test)
        support = min(support, int(meta["max_support"]))
        name = unique(f"{ROW_NAMES[config.algorithm]} (served)", path)
        served = tf.saved_model.load(path).signatures["adapt_and_generate_from_z"]
        source = served_source(served, test, support_size=support,
                               latent_dim=int(meta["latent_dim"]), seed=request.seed,
                               chunk=int(meta["max_samples"]))
        eval_config = GenerationEvalConfig(tasks=request.tasks, samples=request.samples,
                                           adapt_steps=int(meta["adapt_steps"]),
                                           support_size=support, seed=request.seed)
        row = evaluate_source(source, test, critic, labels, eval_config,
                              _progress(progress, name, request.tasks))
        rows.append(dict(name=name, run=meta["run"], export=path, algorithm=config.algorithm,
                         dataset=dataset_name, step=int(meta["step"]), support=support,
                         adapt_steps=int(meta["adapt_steps"]), **row))
    if request.real:
        labels, support = scoring(request.runs[0] if request.runs else request.exports[0], test)
        eval_config = GenerationEvalConfig(tasks=request.tasks, samples=request.samples,
                                           support_size=support, seed=request.seed)
        row = evaluate_source(real_source(test, request.seed), test, critic, labels,
                              eval_config, _progress(progress, "Real", request.tasks))
        rows.append(dict(name="Real", run=None, algorithm="real", dataset=dataset_name, **row))

    def order(r):
        table = next((i for i, n in enumerate(ROW_ORDER) if r["name"].startswith(n)),
                     len(ROW_ORDER))
        return table, r["name"], r.get("step", 0), r.get("adapt_steps", 0)
    rows.sort(key=order)
    return rows


def _export_metadata(path: str) -> dict:
    """The metadata of an ``export.saved_model`` version of a MAML-GAN run, checked."""
    try:
        meta = read_metadata(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"`exports`: {path} holds no tfmeta export (no "
                                f"{METADATA_FILE}); give a version folder, e.g. "
                                f"exports/mnist_gan/1") from None
    if meta.get("kind") != "adaptation":
        raise ValueError(f"`exports`: {path} is a {meta.get('kind')!r} export; expected a "
                         f"MAML-GAN run's export.saved_model version (kind 'adaptation')")
    return meta


def _progress(progress, name, total):
    if progress is None:
        return None
    return lambda done: progress(name, done, total)
