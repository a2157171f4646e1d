"""MeGAN (paper 001, :mod:`tfmeta.megan`): MAML with a generator in the inner loop.

Two players are meta-trained: an N+1-way Conv-4 (the classes and "fake") and a
conditional generator, each with its own inner optimizer (SGD at ``inner_lr``
and ``generator_inner_lr``) and Adam outer step. The classifier adapts on the
support set and on the generator's images of it (from inner step
``fakes_from`` on); queries are scored on its N class columns. Its training
episodes carry the support set after the queries (its outer losses may
generate from it), and each curve point writes ``samples.png``
(:mod:`tfmeta.experiments.few_shot.figures`).

Example:
    >>> setup = get("megan").build(config, (28, 28, 1))
    >>> setup.generator, sorted(setup.inner)
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner
from tfmeta.classify import PLAYER, logits_of
from tfmeta.experiments.few_shot.fields import InnerLoopFields, MeganFields
from tfmeta.experiments.few_shot.figures import augmentation_grid
from tfmeta.experiments.few_shot.learners.components import adam, conv4_classifier, inner_sgd
from tfmeta.experiments.few_shot.learners.gradient import gradient_learner
from tfmeta.experiments.few_shot.registry import Config, FewShotSetup, register
from tfmeta.megan import GENERATOR, megan_objective
from tfmeta.nets.megan import build_conditional_generator
from tfmeta.types import Reused, Task


def build(config: Config, image_shape, *, dtype: str = "float32",
          activation: str = "relu") -> FewShotSetup:
    """The N+1 Conv-4, the generator, their objective, inner optimizers, learner, checkpoint."""
    model = conv4_classifier(config, image_shape, config.ways + 1, dtype=dtype,
                             activation=activation)
    generator = build_conditional_generator(tuple(image_shape), ways=config.ways,
                                            conditioning=config.conditioning,
                                            noise_dim=config.noise_dim,
                                            width=config.generator_filters, dtype=dtype)
    objective = megan_objective(model, generator, ways=config.ways,
                                real_weight=config.real_weight, fake_weight=config.fake_weight,
                                fakes_from=config.fakes_from, outer_loss=config.outer_loss)
    items = {"model": model, "generator": generator}
    inner = {PLAYER: inner_sgd(config, model.trainable_variables, items, dtype),
             GENERATOR: inner_lib.sgd(config.generator_inner_lr)}
    learner = MetaLearner({PLAYER: model.trainable_variables,
                           GENERATOR: generator.trainable_variables}, objective, inner,
                          adam(config),
                          algorithm="fomaml" if config.first_order else "maml",
                          inner_steps=config.inner_steps, step_weights=config.step_weights,
                          anneal_steps=config.anneal_steps)
    items.update(step=learner.step, optimizer=learner.outer[PLAYER],
                 generator_optimizer=learner.outer[GENERATOR])
    return FewShotSetup(config, model, objective, inner, learner, tf.train.Checkpoint(**items),
                 generator=generator)


def episodes(config: Config, sampler) -> Callable:
    """Meta-batches whose validation batch is the queries, then the support set."""
    del config

    def megan_batch(step):
        tasks = sampler.meta_batch(step)
        return Task(inner=tasks.inner, val=Reused(tasks.val.batch + tasks.inner.batch),
                    seed=tasks.seed)
    return megan_batch


def logits(setup: FewShotSetup, params: list, images: tf.Tensor) -> tf.Tensor:
    """The N class columns of the N+1 classifier's logits (a query cannot be "fake")."""
    return logits_of(setup.model, params, images)[:, :setup.config.ways]


def check(config: Config) -> None:
    if config.inner_steps <= config.fakes_from:
        raise ValueError(f"`algorithm`=megan: `inner_steps`={config.inner_steps} must exceed "
                         f"`fakes_from`={config.fakes_from} (the first inner step with "
                         "generated images, 0-based), or no generated image ever enters "
                         "the inner loop")
    if config.first_order and config.outer_loss == "real":
        raise ValueError("`algorithm`=megan `first_order`: with `outer_loss`=real the "
                         "generator gets no first-order meta-gradient (the real query loss "
                         "reaches it only through the classifier's inner gradients); use "
                         "`outer_loss`=hybrid (its GAN loss) or `outer_loss`=fakes")


def refuse_inner_steps(config: Config, inner_steps: int) -> str | None:
    if inner_steps > config.fakes_from:
        return None
    return (f"must exceed the MeGAN run's fakes_from={config.fakes_from} (the first inner step "
            f"with generated images, 0-based): with fewer steps the classifier, meta-trained "
            f"with them, would never see one")


def serving_metadata(setup: FewShotSetup) -> dict:
    config = setup.config
    return {"inner_optimizer": {p: o.name for p, o in sorted(setup.inner.items())},
            "generator": {"conditioning": config.conditioning,
                          "fakes_from": config.fakes_from,
                          "real_weight": config.real_weight,
                          "fake_weight": config.fake_weight},
            "classifier_outputs": config.ways + 1}


register(gradient_learner(
    "megan", "paper 001, MAML whose N+1-way classifier (the classes and 'fake') also adapts "
    "on a meta-learned generator's images of the support set; its own CPU recipe (5 inner "
    "steps) for flags not given", build, blocks=(InnerLoopFields, MeganFields),
    without=("first_order_steps", "adapt"), episodes=episodes, logits=logits, check=check,
    refuse_inner_steps=refuse_inner_steps, serving_metadata=serving_metadata, samples=augmentation_grid,
    backbones=("conv4",)))
