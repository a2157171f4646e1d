"""Meta-learned GANs end to end (paper 000): MAML, FOMAML, Meta-SGD, FIGR, scratch.

A DCGAN generator/discriminator pair is meta-trained on the meta-train classes
of a dataset (a task = the images of one class) so that a few inner steps on
images of an unseen class give a generator for it (Algorithm 1 of paper 000).

Algorithms (``MamlGanConfig.algorithm``):

* ``maml``: second-order MAML-GAN, inner RMSprop, uniform multi-step loss;
* ``fomaml``: the same with first-order meta-gradients;
* ``metasgd``: MAML with one inner step and learned per-parameter learning
  rates (paper 000 trained it with the minimax loss only; both are allowed);
* ``reptile``: the FIGR baseline, Reptile + WGAN-GP, inner Adam (beta_1 0.5),
  outer SGD with step size ``reptile_step_size`` on ``init - adapted``;
* ``scratch``: no meta-training ("Not pre-trained" in Table 1): the run holds
  the random initialization only.

Example:
    >>> config = MamlGanConfig(dataset="mnist", steps=100, data_dir="../shared/tensorflow_datasets")
    >>> run(config, "runs/mnist")
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, NamedTuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfmeta import functional
from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner, adapt, adapt_loop
from tfmeta.data import ClassDataset, MetaBatchSampler, load_class_dataset
from tfmeta.gan import LOSSES, build_discriminator, build_generator, gan_objective, generate
from tfmeta.training import meta_train, restore_latest

ALGORITHMS = ("maml", "fomaml", "metasgd", "reptile", "scratch")
INNER_OPTIMIZERS = ("rmsprop", "sgd", "adam")
STEP_WEIGHTS = ("uniform", "final", "annealed")
OUTER_LR_SCHEDULES = ("constant", "cosine")
GRID_STEPS = (1, 5, 10)   # paper 000, Figure 5: after 1, 5 and 10 adaptation steps
GRID_SUPPORT = 32          # images a grid's class adapts on (trainers.evaluate's --support)

# Fields that may change between a run and its resumption; all others must match.
RESUMABLE_FIELDS = ("steps", "data_dir", "download", "checkpoint_every", "keep_checkpoints",
                    "sample_every", "summary_every", "grid_samples", "grid_steps", "remat")


@dataclasses.dataclass(frozen=True)
class MamlGanConfig:
    """Settings of a MAML-GAN run; defaults are paper 000's (section 5)."""
    dataset: str = "mnist"
    data_dir: str | None = None
    download: bool = True
    algorithm: str = "maml"
    loss: str = "wgan-gp"
    inner_steps: int = 10
    meta_batch_size: int = 4
    batch_size: int = 32
    inner_optimizer: str = "rmsprop"
    inner_lr: float = 1e-4
    discriminator_inner_lr: float | None = None   # None: inner_lr
    outer_lr: float = 1e-4
    outer_lr_schedule: str = "constant"
    reptile_step_size: float = 0.1
    step_weights: str = "uniform"
    anneal_steps: int = 1000
    steps: int = 20000
    seed: int = 0
    jit_compile: bool = False
    remat: bool = False
    latent_dim: int = 100
    generator_width: int = 64
    discriminator_width: int = 64
    image_size: int = 28
    gp_weight: float = 10.0
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    sample_every: int = 500
    summary_every: int = 10
    grid_samples: int = 8
    grid_steps: tuple = GRID_STEPS

    def __post_init__(self):
        _one_of("algorithm", self.algorithm, ALGORITHMS)
        _one_of("loss", self.loss, tuple(LOSSES))
        _one_of("inner_optimizer", self.inner_optimizer, INNER_OPTIMIZERS)
        _one_of("step_weights", self.step_weights, STEP_WEIGHTS)
        _one_of("outer_lr_schedule", self.outer_lr_schedule, OUTER_LR_SCHEDULES)
        for name in ("inner_steps", "meta_batch_size", "batch_size", "anneal_steps",
                     "latent_dim", "generator_width", "discriminator_width", "image_size",
                     "checkpoint_every", "keep_checkpoints", "sample_every", "summary_every",
                     "grid_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"--steps must be an integer >= 0, got {self.steps!r}")
        for name in ("inner_lr", "discriminator_inner_lr", "outer_lr", "reptile_step_size"):
            value = getattr(self, name)
            if value is None and name == "discriminator_inner_lr":
                continue   # unset: --inner_lr
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ValueError(f"--{name} must be a positive number, got {value!r}")
        steps = self.grid_steps
        if (isinstance(steps, (str, bytes)) or not isinstance(steps, (list, tuple)) or not steps
                or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in steps)
                or any(a >= b for a, b in zip(steps, steps[1:]))):
            raise ValueError(f"--grid_steps must be increasing integers >= 1 (e.g. 1,5,10), "
                             f"got {steps!r}")
        object.__setattr__(self, "grid_steps", tuple(steps))   # a JSON list reads back as a tuple
        if self.image_size % 4:
            raise ValueError(f"--image_size must be a multiple of 4 (two stride-2 layers), "
                             f"got {self.image_size}")

    def inner_lrs(self) -> dict[str, float]:
        """The inner learning rate of each player."""
        d = self.inner_lr if self.discriminator_inner_lr is None else self.discriminator_inner_lr
        return {"generator": self.inner_lr, "discriminator": d}

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["grid_steps"] = list(self.grid_steps)
        return out


def _one_of(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"--{name}={value!r} is not one of {list(allowed)}")


class Setup(NamedTuple):
    """Everything a run is made of."""
    config: MamlGanConfig
    generator: keras.Model
    discriminator: keras.Model
    objective: Callable
    inner: dict            # player -> InnerOptimizer (the run's adaptation)
    learner: MetaLearner | None
    checkpoint: tf.train.Checkpoint


def load_data(config: MamlGanConfig):
    """The dataset's meta-train / meta-test classes (``ClassDatasetSplits``)."""
    return load_class_dataset(config.dataset, data_dir=config.data_dir,
                              download=config.download, image_size=config.image_size)


def build(config: MamlGanConfig, image_shape, seed: int | None = None) -> Setup:
    """Models, objective, inner optimizers, learner and checkpoint of a run."""
    seed = config.seed if seed is None else seed
    keras.utils.set_random_seed(seed)
    generator = build_generator(config.latent_dim, image_shape, config.generator_width,
                                seed=seed)
    discriminator = build_discriminator(image_shape, config.discriminator_width,
                                        seed=seed + 1000)
    objective = gan_objective(generator, discriminator, loss=config.loss,
                              gp_weight=config.gp_weight)
    models = {"generator": generator, "discriminator": discriminator}
    variables = {p: m.trainable_variables for p, m in models.items()}
    items: dict[str, Any] = dict(models)
    lrs = config.inner_lrs()
    if config.algorithm == "metasgd":
        rates = {p: inner_lib.meta_sgd_learning_rates(v, lrs[p], name=f"{p}_lr")
                 for p, v in variables.items()}
        inner = {p: inner_lib.meta_sgd(rates[p]) for p in models}
        items.update({f"{p}_learning_rates": rates[p] for p in models})
    elif config.algorithm == "reptile":
        inner = {p: inner_lib.adam(lrs[p], beta_1=0.5) for p in models}
    else:
        inner = {p: inner_lib.get(config.inner_optimizer, learning_rate=lrs[p]) for p in models}
    learner = None
    if config.algorithm != "scratch":
        if config.algorithm == "reptile":
            rate = outer_learning_rate(config, config.reptile_step_size)
            outer = lambda: keras.optimizers.SGD(rate)  # noqa: E731
            algorithm, steps = "reptile", config.inner_steps
        else:
            rate = outer_learning_rate(config, config.outer_lr)
            outer = lambda: keras.optimizers.RMSprop(rate, rho=0.9, epsilon=1e-7)  # noqa: E731
            algorithm = "fomaml" if config.algorithm == "fomaml" else "maml"
            steps = config.inner_steps
        learner = MetaLearner(variables, objective, inner, outer, algorithm=algorithm,
                              steps=steps, step_weights=config.step_weights,
                              anneal_steps=config.anneal_steps, jit_compile=config.jit_compile,
                              remat=config.remat and algorithm != "reptile")
        items["step"] = learner.step
        items.update({f"{p}_optimizer": opt for p, opt in learner.outer.items()})
    else:
        items["step"] = tf.Variable(0, dtype=tf.int64, trainable=False, name="meta_step")
    return Setup(config, generator, discriminator, objective, inner, learner,
                 tf.train.Checkpoint(**items))


def outer_learning_rate(config: MamlGanConfig, base: float):
    """The outer learning rate (or Reptile step size) ``base`` under the run's schedule.

    ``constant`` returns ``base``; ``cosine`` decays it from ``base`` at the
    first meta-update to 0 at ``config.steps`` (Loshchilov & Hutter 2017). The
    schedule reads the outer optimizer's own iteration counter, which is in the
    checkpoint, so a resumed run continues the same curve.
    """
    if config.outer_lr_schedule == "constant":
        return base
    return keras.optimizers.schedules.CosineDecay(base, decay_steps=max(config.steps, 1),
                                                  alpha=0.0)


def check_workdir(config: MamlGanConfig, workdir: str) -> None:
    """Raises ValueError if ``workdir`` holds a run whose config is incompatible."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        stored = json.load(f)
    current = config.to_json()
    default = MamlGanConfig().to_json()  # a field older runs did not store has its default
    unknown = sorted(set(stored) - set(current))
    if unknown:
        raise ValueError(f"{path} has settings this version does not know: {unknown}")
    resumable = set(RESUMABLE_FIELDS)
    if current["outer_lr_schedule"] != "constant":
        resumable.discard("steps")  # the schedule's length is the run's length
    stored = {k: stored.get(k, default[k]) for k in current}
    diff = {k: (stored[k], current[k]) for k in current
            if k not in resumable and stored[k] != current[k]}
    if diff:
        detail = ", ".join(f"--{k}={new!r} (the run has {old!r})" for k, (old, new) in diff.items())
        raise ValueError(
            f"--workdir={workdir} holds a run with another config: {detail}. Use the run's "
            "settings to resume it, or another --workdir for a new run.")


def write_config(config: MamlGanConfig, workdir: str) -> None:
    """Writes ``workdir/config.json`` atomically."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "config.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(config.to_json(), f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def read_config(workdir: str) -> MamlGanConfig:
    """The config of the run in ``workdir``."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{workdir} holds no MAML-GAN run (no config.json)")
    with open(path) as f:
        return MamlGanConfig(**json.load(f))


def load_run(workdir: str, **overrides) -> tuple[Setup, Any]:
    """Rebuilds a run from ``workdir`` and restores its latest checkpoint.

    Returns:
      ``(setup, splits)``. Raises FileNotFoundError if there is no checkpoint.
    """
    config = dataclasses.replace(read_config(workdir), **overrides)
    splits = load_data(config)
    setup = build(config, splits.train.image_shape)
    if restore_latest(setup.checkpoint, workdir) is None:
        raise FileNotFoundError(f"{workdir} holds no checkpoint (checkpoints/ is empty)")
    return setup, splits


def params_of(setup: Setup) -> dict[str, list]:
    return {"generator": functional.params_of(setup.generator),
            "discriminator": functional.params_of(setup.discriminator)}


def adaptation_trajectory(setup: Setup, params, images: tf.Tensor, seed, steps: int,
                          inner=None):
    """Adapts both players on ``images [k, B, H, W, C]``; returns the trajectory."""
    return adapt(setup.objective, params, images, inner or setup.inner, steps=steps,
                 seed=tf.convert_to_tensor(seed, tf.int32))


def adapted_params(setup: Setup, params, images: tf.Tensor, seed, steps: int):
    """Both players after ``steps`` inner steps on ``images [k, B, H, W, C]``.

    The last entry of :func:`adaptation_trajectory`, computed as one symbolic
    loop (:func:`tfmeta.algorithms.adapt_loop`): inside a ``tf.function`` the
    step is traced once, so the graph (an export's, evaluate's) and its trace
    time do not grow with ``steps``.
    """
    adapted, _ = adapt_loop(setup.objective, params, images, setup.inner, steps=steps,
                            seed=tf.convert_to_tensor(seed, tf.int32))
    return adapted


def sample_grid(setup: Setup, random_setup: Setup, dataset: ClassDataset, classes,
                *, samples: int, seed: int = 0, steps=GRID_STEPS,
                support: int = GRID_SUPPORT) -> tuple[np.ndarray, list, list]:
    """Figure 5 of paper 000: per class, meta-init vs random-init adaptation.

    Each class adapts on a support set of ``support`` of its images (capped at
    the class size; at least the run's batch size), every inner step on
    ``batch_size`` of them, as ``trainers.evaluate`` does: a few shots, however
    many steps. The columns are the support images, the prior and the generator
    after each of ``steps`` adaptation steps.

    Returns:
      ``(blocks, row_labels, column_labels)``: ``blocks[row][col]`` is a
      ``[samples, H, W, C]`` array in [-1, 1]; column 0 holds support images.
    """
    from tfmeta.eval.generation import step_batches, support_set

    config = setup.config
    z = tf.random.stateless_normal([samples, config.latent_dim], [seed, 99])
    columns = (0,) + tuple(steps)
    rows, labels = [], []
    for c in classes:
        size = min(max(support, config.batch_size), int(dataset.counts[int(c)]))
        shots = support_set(dataset, int(c), 0, size, seed)
        images = step_batches(shots, max(steps), config.batch_size,
                              tf.constant([seed, int(c)], tf.int32))
        for name, s in (("meta-init", setup), ("random init", random_setup)):
            traj = adaptation_trajectory(s, params_of(s), images, [seed, int(c)], max(steps))
            row = [tf.gather(shots, tf.range(samples) % size).numpy()]
            row += [generate(s.generator, traj[k]["generator"], z).numpy() for k in columns]
            rows.append(row)
            labels.append(f"{dataset.class_names[int(c)]}: {name}")
    names = ["support"] + ["prior" if k == 0 else f"{k} step{'s' * (k > 1)}" for k in columns]
    return rows, labels, names


def grid_image(blocks, row_labels, column_labels, scale: int = 2) -> np.ndarray:
    """Renders sample blocks into one uint8 RGB image with labels (PIL)."""
    from PIL import Image, ImageDraw

    first = blocks[0][0]
    n, h, w, c = first.shape
    per_row = min(n, 4)
    tile_rows = -(-n // per_row)
    bh, bw = tile_rows * h * scale, per_row * w * scale
    gap, left, top = 6, 150, 18
    height = top + len(blocks) * (bh + gap)
    width = left + len(column_labels) * (bw + gap)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for j, name in enumerate(column_labels):
        draw.text((left + j * (bw + gap) + 2, 3), name, fill=(0, 0, 0))
    for i, (row, label) in enumerate(zip(blocks, row_labels)):
        y0 = top + i * (bh + gap)
        draw.text((4, y0 + bh // 2 - 6), label, fill=(0, 0, 0))
        for j, block in enumerate(row):
            x0 = left + j * (bw + gap)
            pix = np.clip((np.asarray(block) + 1.0) * 127.5, 0, 255).astype(np.uint8)
            if pix.shape[-1] == 1:
                pix = np.repeat(pix, 3, axis=-1)
            for k in range(n):
                tile = Image.fromarray(pix[k]).resize((w * scale, h * scale), Image.NEAREST)
                canvas.paste(tile, (x0 + (k % per_row) * w * scale, y0 + (k // per_row) * h * scale))
            if j == 1:  # the prior is boxed, as in the paper
                draw.rectangle([x0 - 2, y0 - 2, x0 + bw + 1, y0 + bh + 1], outline=(40, 90, 220),
                               width=2)
    return np.asarray(canvas)


def write_png_atomic(image: np.ndarray, path: str) -> None:
    tmp = path + ".tmp"
    tf.io.write_file(tmp, tf.io.encode_png(image))
    os.replace(tmp, path)


def grid_classes(dataset: ClassDataset, count: int = 3) -> list[int]:
    """The held-out classes shown in sample grids: all if few, else evenly spaced."""
    n = dataset.num_classes
    return list(range(n)) if n <= count else [int(i) for i in np.linspace(0, n - 1, count)]


def run(config: MamlGanConfig, workdir: str,
        progress: Callable[[int, dict], None] | None = None, splits=None) -> dict:
    """Meta-trains (or resumes) a run in ``workdir``; returns the last metrics.

    Writes ``config.json``, ``checkpoints/``, ``tensorboard/`` (scalars and
    sample images) and ``samples/step_XXXXXX.png`` grids (paper 000, Figure 5).

    Raises:
      ValueError: on an incompatible existing run or bad settings.
      tfmeta.training.Diverged: when a meta-update is non-finite.
    """
    check_workdir(config, workdir)
    splits = splits if splits is not None else load_data(config)
    sampler = None
    if config.algorithm != "scratch":
        try:
            sampler = MetaBatchSampler(splits.train, tasks=config.meta_batch_size,
                                       inner_steps=config.inner_steps,
                                       batch_size=config.batch_size, seed=config.seed)
        except ValueError as e:
            raise ValueError(f"--batch_size/--meta_batch_size: {e}") from None
    if splits.test.counts.numpy().min() < config.batch_size:
        raise ValueError(
            f"--batch_size={config.batch_size} is larger than the smallest held-out class "
            f"({int(splits.test.counts.numpy().min())} images); lower --batch_size")
    tf.config.experimental.enable_op_determinism()
    setup = build(config, splits.train.image_shape)
    random_setup = build(dataclasses.replace(config, algorithm="scratch"),
                         splits.train.image_shape, seed=config.seed + 1)
    write_config(config, workdir)
    samples_dir = os.path.join(workdir, "samples")
    os.makedirs(samples_dir, exist_ok=True)
    classes = grid_classes(splits.test)

    def write_grid(step: int) -> None:
        blocks, rows, cols = sample_grid(setup, random_setup, splits.test, classes,
                                         samples=config.grid_samples, seed=config.seed,
                                         steps=config.grid_steps)
        image = grid_image(blocks, rows, cols)
        write_png_atomic(image, os.path.join(samples_dir, f"step_{step:06d}.png"))
        write_png_atomic(image, os.path.join(samples_dir, "latest.png"))
        tf.summary.image("samples/figure5", image[None], step=step)

    if config.algorithm == "scratch":
        from tfmeta.training import checkpoint_manager
        manager = checkpoint_manager(setup.checkpoint, workdir, setup.checkpoint.step)
        if manager.latest_checkpoint is None:
            manager.save(checkpoint_number=0)
        with tf.summary.create_file_writer(os.path.join(workdir, "tensorboard")).as_default():
            write_grid(0)
        return {}
    return meta_train(setup.learner, sampler, workdir=workdir, steps=config.steps,
                      checkpoint=setup.checkpoint, checkpoint_every=config.checkpoint_every,
                      max_to_keep=config.keep_checkpoints, summary_every=config.summary_every, on_step=progress,
                      on_checkpoint=write_grid, every=config.sample_every)
