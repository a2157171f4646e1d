"""The gradient family: an inner loop on Conv-4's weights. MAML, FOMAML, Meta-SGD, LSTM.

The family's adaptation (:func:`adapt`: inner steps from the initialization,
HSML's modulated one, MeGAN's two players), scoring (:func:`logits`) and
serving parts are here; each learner is a :class:`LearnerSpec` made by
:func:`gradient_learner` from its build function. MAML and FOMAML adapt with
SGD at ``inner_lr`` (MAML++'s LSLR with `per_step_lr`), Meta-SGD with learned
per-parameter rates, the LSTM meta-learner with its learned gates
(:mod:`tfmeta.inner_lstm`); all take an Adam outer step. With `adapt`=head (ANIL;
MAML, FOMAML and Meta-SGD) the inner steps adapt only Conv-4's head, in training,
evaluation and serving alike (:func:`components.adapt_only`).

Example:
    >>> setup = get("metasgd").build(config, (28, 28, 1))
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner
from tfmeta.algorithms import adaptation_trajectory
from tfmeta.algorithms.maml import modulate
from tfmeta.classify import PLAYER, classification_objective, logits_of
from tfmeta.experiments.few_shot.fields import InnerLoopFields
from tfmeta.experiments.few_shot.learners.components import (adam, adapt_only,
                                                             adapted_variables,
                                                             classifier, inner_sgd)
from tfmeta.experiments.few_shot.registry import (Config, FewShotSetup, LearnerSpec, get,
                                                  register)
from tfmeta.functional import params_of
from tfmeta.inner_lstm import meta_lstm, meta_lstm_variables
from tfmeta.megan import GENERATOR
from tfmeta.savedmodel.common import variable_names
from tfmeta.types import Reused


def trajectory(setup: FewShotSetup, support_images, support_labels, inner_steps: int, params=None,
               seed=None) -> list:
    """``[params_0, ..., params_k]`` of every player on the support set (k = ``inner_steps``;
    with `adapt`=head only the head moves, as in training)."""
    start = {PLAYER: params_of(setup.model) if params is None else list(params)}
    if setup.modulation is not None:   # HSML: the start tailored to this support set
        start, _ = modulate({PLAYER: setup.modulation}, start, (support_images, support_labels))
    if setup.generator is not None:
        start[GENERATOR] = params_of(setup.generator)
    seed = tf.zeros([2], tf.int32) if seed is None else seed
    return adaptation_trajectory(setup.objective, start, Reused((support_images, support_labels)),
                                 setup.inner, inner_steps=inner_steps, seed=seed,
                                 adapt_only=adapt_only(setup.config, setup.model))


def adapt(setup: FewShotSetup, support_images, support_labels, *, inner_steps: int, params=None,
          seed=None, ways=None) -> list:
    """The classifier's parameters after ``inner_steps`` inner steps (``ways`` is the run's)."""
    del ways
    return trajectory(setup, support_images, support_labels, inner_steps, params,
                      seed)[-1][PLAYER]


def logits(setup: FewShotSetup, params: list, images: tf.Tensor) -> tf.Tensor:
    """Class logits ``[Q, N]`` of ``images`` at ``params`` (batch statistics)."""
    return logits_of(setup.model, params, images)


def serving(setup: FewShotSetup, inner_steps: int) -> dict:
    """The serving parts: the state is the weights after ``inner_steps`` inner steps, by name.

    Meta-variables (inner rates, HSML's modulation, MeGAN's generator) are
    saved too, as they adapt inside ``adapt_fn``.
    """
    spec = get(setup.config.algorithm)   # MeGAN scores on its own class columns
    model = setup.model
    names = variable_names(model.trainable_variables, model.name)

    def adapt_fn(images, labels, seed):
        return dict(zip(names, spec.adapt(setup, images, labels, inner_steps=inner_steps,
                                          seed=seed)))

    def logits_fn(state, images):
        return spec.logits(setup, [state[n] for n in names], images)

    weights = model.trainable_variables
    inner = setup.inner if isinstance(setup.inner, dict) else {PLAYER: setup.inner}
    variables = {"model_weights": dict(zip(names, weights)),
                 "inner_learning_rates": [v for p in sorted(inner) for v in inner[p].variables],
                 "non_trainable": list(model.non_trainable_variables)}
    if getattr(setup.learner, "inner_state", None):   # Reptile's carried Adam state
        variables["inner_state"] = tf.nest.flatten(setup.learner.inner_state)
    if setup.modulation is not None:   # HSML tailors the start inside `adapt`
        variables["modulation"] = list(setup.modulation.variables)
    if setup.generator is not None:   # MeGAN: the generator adapts inside `adapt`
        generator = setup.generator.trainable_variables
        variables["generator_weights"] = dict(zip(
            variable_names(generator, setup.generator.name), generator))
    return dict(adapt_fn=adapt_fn, logits_fn=logits_fn,
                state_shapes={n: list(v.shape) for n, v in zip(names, weights)},
                variables=variables)


def serving_metadata(setup: FewShotSetup) -> dict:
    return {"inner_optimizer": setup.inner.name, "adapt": getattr(setup.config, "adapt", "all")}


def build_gradient(config: Config, image_shape, *, dtype: str = "float32",
                   activation: str = "relu", algorithm: str = "maml",
                   inner: Callable = inner_sgd, modulation: Callable | None = None,
                   outer: Callable = adam, carry_inner_state: bool = False) -> FewShotSetup:
    """Conv-4, objective, inner optimizer, :class:`MetaLearner` and checkpoint.

    ``algorithm``: MetaLearner's (maml, fomaml or reptile); ``inner(config,
    variables, items, dtype)`` and ``modulation(config, model, items, dtype)``
    add their meta-variables to the checkpoint ``items``; ``outer(config)`` is
    the outer optimizers' factory. ``carry_inner_state`` (Reptile): the inner
    optimizer's state persists across tasks (:class:`MetaLearner`), is
    checkpointed, and starts every adaptation at test time.
    """
    model = classifier(config, image_shape, config.ways, dtype=dtype, activation=activation)
    objective = classification_objective(model)
    items = {"model": model}
    # ANIL (`adapt`=head): the inner optimizer, and its learned rates, are of the head alone
    inner_optimizer = inner(config, adapted_variables(config, model), items, dtype)
    modulated = modulation(config, model, items, dtype) if modulation is not None else None
    learner = MetaLearner({PLAYER: model.trainable_variables}, objective, inner_optimizer,
                          outer(config), algorithm=algorithm,
                          inner_steps=config.inner_steps, step_weights=config.step_weights,
                          anneal_steps=config.anneal_steps,
                          first_order_steps=config.first_order_steps,
                          modulation={PLAYER: modulated} if modulated else None,
                          carry_inner_state=carry_inner_state,
                          adapt_only=adapt_only(config, model))
    items["step"] = learner.step
    items["optimizer"] = learner.outer[PLAYER]
    if carry_inner_state:
        items["inner_state"] = tf.nest.flatten(learner.inner_state)
        inner_optimizer = learner.carried_inner(PLAYER)
    return FewShotSetup(config, model, objective, inner_optimizer, learner,
                 tf.train.Checkpoint(**items), modulation=modulated)


def gradient_learner(name: str, help: str, build: Callable[..., FewShotSetup],
                     **fields) -> LearnerSpec:
    """A gradient-family :class:`LearnerSpec` (the inner-loop fields apply unless ``without``)."""
    defaults = dict(family="gradient", adapt=adapt, logits=logits, serving=serving,
                    serving_metadata=serving_metadata, blocks=(InnerLoopFields,),
                    backbones=("conv4", "resnet12"))
    return LearnerSpec(name=name, help=help, build=build, **dict(defaults, **fields))


def _meta_sgd_rates(config: Config, variables: list, items: dict, dtype: str = "float32"):
    rates = inner_lib.meta_sgd_learning_rates(variables, config.inner_lr, name="inner_lr")
    items["inner_learning_rates"] = rates
    return inner_lib.meta_sgd(rates)


def _meta_lstm(config: Config, variables: list, items: dict, dtype: str = "float32"):
    weights = meta_lstm_variables(variables, config.inner_lr, seed=config.seed)
    items["meta_lstm"] = weights
    return meta_lstm(weights)


def _check_meta_lstm(config: Config) -> None:
    if not 0.0 < config.inner_lr < 1.0:
        raise ValueError(f"`algorithm`=meta_lstm: `inner_lr`={config.inner_lr} is the input "
                         f"gate's starting value, a sigmoid: it must be in (0, 1)")


def _builder(**how) -> Callable[..., FewShotSetup]:
    def build(config, image_shape, *, dtype="float32", activation="relu"):
        return build_gradient(config, image_shape, dtype=dtype, activation=activation, **how)
    return build


register(gradient_learner("maml", "second-order MAML", _builder(algorithm="maml")))
register(gradient_learner("fomaml", "first order", _builder(algorithm="fomaml"),
                          without=("first_order_steps",)))
register(gradient_learner("metasgd", "learned per-parameter inner rates",
                          _builder(inner=_meta_sgd_rates),
                          without=("per_step_lr", "first_order_steps")))
register(gradient_learner(
    "meta_lstm", "the LSTM meta-learner of Ravi and Larochelle (learned input and forget gates, "
    "input gate starting at `inner_lr`)", _builder(inner=_meta_lstm),
    without=("per_step_lr", "first_order_steps", "adapt"), check=_check_meta_lstm))
