"""Builds a MAML-GAN run from its config: models, objective, inner optimizers, learner.

Each algorithm is one row of ``_ALGORITHMS``: how the players adapt (the
inner optimizers) and how the initialization moves (the outer optimizer and
the :class:`tfmeta.algorithms.MetaLearner` algorithm). ``scratch`` has no
learner: its checkpoint holds the random initialization only.

Example:
    >>> setup = build(MamlGanConfig(algorithm="fomaml"), (28, 28, 1))
    >>> metrics = setup.learner.train_step(tasks)
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import keras
import tensorflow as tf

from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner
from tfmeta.data import load_class_dataset
from tfmeta.experiments.maml_gan.config import MamlGanConfig
from tfmeta.gan import build_discriminator, build_generator, gan_objective
from tfmeta.inner_scales import layer_scale_variables, layer_scaled, step_scaled

PLAYERS = ("generator", "discriminator")


class MamlGanSetup(NamedTuple):
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


class LossFloor(tf.Module):
    """Whether a player's meta-loss, averaged over the meta-updates so far, is at a floor.

    The average is exponential (weight ``decay`` on the past) from the first loss
    observed; its variables go in the run's checkpoint, so a resumed run goes on with it.
    """

    def __init__(self, floor: float, decay: float = 0.99):
        super().__init__(name="loss_floor")
        self.floor, self.decay = floor, decay
        self.average = tf.Variable(0.0, trainable=False, name="average")
        self.observed = tf.Variable(0, dtype=tf.int64, trainable=False, name="observed")
        self.held = tf.Variable(0, dtype=tf.int64, trainable=False, name="held")

    def is_open(self) -> tf.Tensor:
        """True before any loss is observed and while the average is at or above the floor."""
        return tf.logical_or(self.observed == 0, self.average >= self.floor)

    def observe(self, loss) -> None:
        """Counts the update just taken as held if the floor held it; averages ``loss`` in."""
        self.held.assign_add(tf.cast(tf.logical_not(self.is_open()), tf.int64))
        loss = tf.cast(loss, self.average.dtype)
        self.average.assign(tf.where(self.observed == 0, loss,
                                     self.decay * self.average + (1 - self.decay) * loss))
        self.observed.assign_add(1)


class HeldRMSprop(keras.optimizers.RMSprop):
    """RMSprop that steps at its rate for its first ``hold_after`` updates (None: all) and
    while ``is_open()`` (default: always), else at 0.

    The rate (a float or a schedule) stays the optimizer's own, so a checkpoint of a
    plain RMSprop restores into it and back: a run may start holding when resumed.
    """

    def __init__(self, *args, hold_after: int | None = None,
                 is_open: Callable[[], tf.Tensor] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.hold_after, self.is_open = hold_after, is_open

    @property
    def learning_rate(self):
        rate = super().learning_rate
        if self.hold_after is not None:
            rate = tf.where(self.iterations < self.hold_after, rate, tf.zeros_like(rate))
        if self.is_open is not None:
            rate = tf.where(self.is_open(), rate, tf.zeros_like(rate))
        return rate

    @learning_rate.setter
    def learning_rate(self, value):
        keras.optimizers.RMSprop.learning_rate.fset(self, value)


def _inner_of_config(config, variables, items):
    lrs = config.inner_lrs()
    extra = config.inner_kwargs(config.inner_optimizer)
    inner = {p: inner_lib.get(config.inner_optimizer, learning_rate=lrs[p], **extra)
             for p in PLAYERS}
    if not config.layer_scales or config.algorithm == "scratch":   # scratch: scales of 1
        return inner
    scales = {p: layer_scale_variables(len(variables[p]), name=f"{p}_layer_scale",
                                       dtype=variables[p][0].dtype) for p in PLAYERS}
    items.update({f"{p}_layer_scales": scales[p] for p in PLAYERS})
    return {p: layer_scaled(inner[p], scales[p]) for p in PLAYERS}


def _inner_metasgd(config, variables, items):
    lrs = config.inner_lrs()
    rates = {p: inner_lib.meta_sgd_learning_rates(variables[p], lrs[p], name=f"{p}_lr")
             for p in PLAYERS}
    items.update({f"{p}_learning_rates": rates[p] for p in PLAYERS})
    return {p: inner_lib.meta_sgd(rates[p]) for p in PLAYERS}


def _rmsprop_outer(config, floor: LossFloor | None = None):
    def rmsprop(base, kind=keras.optimizers.RMSprop, **held):
        return kind(outer_learning_rate(config, base), rho=0.9, epsilon=config.outer_epsilon,
                    **held)

    rates = config.outer_lrs()
    if config.discriminator_meta_steps is not None or floor is not None:   # held: rate 0
        return {"generator": rmsprop(rates["generator"]),
                "discriminator": rmsprop(rates["discriminator"], HeldRMSprop,
                                         hold_after=config.discriminator_meta_steps,
                                         is_open=None if floor is None else floor.is_open)}
    if rates["discriminator"] == rates["generator"]:
        return lambda: rmsprop(config.outer_lr)
    return {p: rmsprop(rates[p]) for p in PLAYERS}   # built by the learner, in its scope


def _reptile_outer(config):
    if config.reptile_outer == "sgd":   # init += size * mean(adapted - init)
        rate = outer_learning_rate(config, config.reptile_step_size)
        return lambda: keras.optimizers.SGD(rate)
    # The FIGR authors' code: mean(init - adapted) is an outer Adam's gradient.
    return {p: keras.optimizers.Adam(outer_learning_rate(config, rate),
                                     epsilon=config.outer_epsilon)
            for p, rate in config.outer_lrs().items()}


class FloorLearner(MetaLearner):
    """A :class:`MetaLearner` whose ``floor`` observes the discriminator's meta-loss after
    each meta-update (``discriminator_loss_floor``); its metrics add the average and the
    count of updates that held the discriminator so far."""

    def __init__(self, *args, floor: LossFloor, **kwargs):
        super().__init__(*args, **kwargs)
        self.floor = floor

    def apply_gradients(self, grads, metrics) -> None:   # noqa: D102
        super().apply_gradients(grads, metrics)
        self.floor.observe(metrics["meta_loss/discriminator"])

    def train_step(self, tasks) -> dict[str, tf.Tensor]:   # noqa: D102
        metrics = super().train_step(tasks)
        return {**metrics,
                "meta_loss_average/discriminator": tf.convert_to_tensor(self.floor.average),
                "discriminator_held": tf.cast(self.floor.held, tf.float32)}


class _Recipe(NamedTuple):
    inner: Callable            # (config, variables, checkpoint items) -> {player: inner}
    outer: Callable | None     # (config[, floor]) -> optimizer factory; None: no meta-training
    learner_algorithm: str | None


_ALGORITHMS = {
    "maml": _Recipe(_inner_of_config, _rmsprop_outer, "maml"),
    "fomaml": _Recipe(_inner_of_config, _rmsprop_outer, "fomaml"),
    "metasgd": _Recipe(_inner_metasgd, _rmsprop_outer, "maml"),
    "reptile": _Recipe(_inner_of_config, _reptile_outer, "reptile"),   # layer scales refused
    "scratch": _Recipe(_inner_of_config, None, None),
}


def build(config: MamlGanConfig, image_shape, seed: int | None = None) -> MamlGanSetup:
    """Models, objective, inner optimizers, learner and checkpoint of a run."""
    seed = config.seed if seed is None else seed
    keras.utils.set_random_seed(seed)
    generator = build_generator(config.latent_dim, image_shape, config.generator_width,
                                seed=seed)
    discriminator = build_discriminator(image_shape, config.discriminator_width,
                                        seed=seed + 1000)
    recipe = _ALGORITHMS[config.algorithm]
    # Detached fakes change only a second-order meta-gradient (maml's, metasgd's): elsewhere
    # the discriminator's second pass over the fakes would cost time for the same numbers.
    detach = config.detach_fakes and recipe.learner_algorithm == "maml"
    objective = gan_objective(generator, discriminator, loss=config.loss,
                              gp_weight=config.gp_weight, inner_order=config.inner_order,
                              detach_fakes=detach, spectral_norm=config.spectral_norm)
    models = {"generator": generator, "discriminator": discriminator}
    variables = {p: m.trainable_variables for p, m in models.items()}
    items: dict[str, Any] = dict(models)
    inner = recipe.inner(config, variables, items)
    learner = None
    if recipe.outer is None:
        items["step"] = tf.Variable(0, dtype=tf.int64, trainable=False, name="meta_step")
    else:
        algorithm, kind, floor = recipe.learner_algorithm, MetaLearner, {}
        if config.discriminator_loss_floor is not None:   # reptile, wgan-gp: refused
            kind, floor = FloorLearner, {"floor": LossFloor(config.discriminator_loss_floor)}
            items["discriminator_loss_floor"] = floor["floor"]
        learner = kind(variables, objective, inner, recipe.outer(config, **floor),
                       algorithm=algorithm, inner_steps=config.inner_steps,
                       step_weights=config.step_weights, anneal_steps=config.anneal_steps,
                       first_order_steps=config.first_order_steps,
                       first_order_players=tuple({config.first_order_player} - {"none"}),
                       jit_compile=config.jit_compile,
                       remat=config.remat and algorithm != "reptile", **floor)
        items["step"] = learner.step
        items.update({f"{p}_optimizer": opt for p, opt in learner.outer.items()})
    return MamlGanSetup(config, generator, discriminator, objective, inner, learner,
                 tf.train.Checkpoint(**items))


def adapting(setup: MamlGanSetup) -> MamlGanSetup:
    """``setup`` adapting as its meta-trained run does (``MamlGanConfig.adapting``).

    The same models and variables; each player's inner steps times
    its scale (``MamlGanConfig.adapt_scales``; sgd, rmsprop, adam: its inner rate times it).
    """
    scales = setup.config.adapt_scales()
    if set(scales.values()) == {1}:
        return setup
    return setup._replace(config=setup.config.adapting(), inner={
        p: setup.inner[p] if scales[p] == 1 else step_scaled(setup.inner[p], scales[p])
        for p in PLAYERS})
