"""Builds a few-shot classification run from its config: data, Conv-4, learner, checkpoint.

Each algorithm is an inner optimizer plus an outer one: MAML/FOMAML adapt
with SGD at ``inner_lr`` (MAML++'s LSLR: a learned rate per parameter tensor
and step), Meta-SGD with learned per-parameter rates, the LSTM meta-learner
with its learned gates (:mod:`tfmeta.inner_lstm`), HSML with SGD from a per-task
gated initialization (:mod:`tfmeta.algorithms.hsml`), all with an Adam outer
step; Reptile adapts with SGD and moves the initialization by an SGD step of
size ``outer_lr`` along ``init - adapted``. The metric learners
(``protonet``, ``matching``, ``relation``, ``siamese``) have no inner loop: a
Conv-4 embedding (and a head) trained by Adam on the episodes' loss
(:class:`tfmeta.metric.MetricLearner`); their ``inner`` is None. MeGAN
(``megan``) meta-trains two players, an N+1-way Conv-4 and a conditional
generator (:mod:`tfmeta.megan`), with one inner optimizer each (SGD at
``inner_lr`` and ``generator_inner_lr``) and an Adam outer step each.

Example:
    >>> splits = load_data(config)
    >>> setup = build(config, splits.train.image_shape)
    >>> setup.learner.train_step(training_sampler(config, splits.train)(0))
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfmeta import inner as inner_lib
from tfmeta.inner_lstm import meta_lstm, meta_lstm_variables
from tfmeta.algorithms import MetaLearner, whole_episodes
from tfmeta.algorithms.hsml import hsml, hsml_variables
from tfmeta.classify import PLAYER, classification_objective
from tfmeta.data import (ClassDatasetSplits, EpisodeSampler, load_class_dataset,
                         load_folder_dataset)
from tfmeta.data.omniglot import load_omniglot
from tfmeta.experiments.few_shot.config import FewShotConfig
from tfmeta.megan import GENERATOR, megan_objective
from tfmeta.metric import MetricLearner, MetricNets
from tfmeta.nets import build_conv4
from tfmeta.nets.conv4 import build_conv4_embedding
from tfmeta.nets.megan import build_conditional_generator
from tfmeta.nets.metric_heads import (FullContextEmbedding, build_relation_module,
                                      build_siamese_scorer)
from tfmeta.types import Reused, Task

FOLDER_TRAIN_FRACTION = 0.7


class Setup(NamedTuple):
    """Everything a run is made of."""
    config: FewShotConfig
    model: keras.Model         # Conv-4 (gradient-based) or its embedding (metric learners)
    objective: Callable | None  # the inner loop's objective (None: metric learners)
    inner: Any                 # the InnerOptimizer of adaptation (None: metric learners)
    learner: MetaLearner | MetricLearner
    checkpoint: tf.train.Checkpoint
    nets: MetricNets | None = None   # metric learners: embedding and head
    generator: keras.Model | None = None   # MeGAN: the conditional generator
    modulation: Any = None     # HSML: the TaskModulation of the initialization


def load_data(config: FewShotConfig) -> ClassDatasetSplits:
    """The meta-train / meta-test classes of the run's dataset."""
    if config.dataset == "omniglot":
        return load_omniglot(config.split, image_size=config.image_size,
                             data_dir=config.data_dir, download=config.download)
    if config.dataset == "folder":
        dataset = load_folder_dataset(config.folder, image_size=config.image_size)
        ids = np.random.default_rng(0).permutation(np.asarray(dataset.class_ids))
        cut = int(round(FOLDER_TRAIN_FRACTION * len(ids)))
        return dataset.split(sorted(int(i) for i in ids[:cut]),
                             sorted(int(i) for i in ids[cut:]))
    return load_class_dataset(config.dataset, data_dir=config.data_dir,
                              download=config.download, image_size=config.image_size)


def training_sampler(config: FewShotConfig, dataset) -> Callable[[Any], Task]:
    """``step -> Task`` meta-batch of ``meta_batch_size`` episodes (deterministic in step).

    Reptile adapts on all of an episode's images (support and query), as
    Reptile trains on a task's whole training set. MeGAN's validation batch
    carries the support set after the queries (its outer losses may generate
    from it; :mod:`tfmeta.megan.objective`).
    """
    sampler = EpisodeSampler(dataset, ways=config.training_ways, shots=config.shots,
                             queries=config.training_queries, seed=config.seed,
                             episodes=config.meta_batch_size)
    if config.megan:
        def megan_batch(step):
            tasks = sampler.meta_batch(step)
            return Task(inner=tasks.inner, val=Reused(tasks.val.batch + tasks.inner.batch),
                        seed=tasks.seed)
        return megan_batch
    if config.algorithm != "reptile":
        return sampler.meta_batch
    return lambda step: whole_episodes(sampler.meta_batch(step))


def outer_learning_rate(config: FewShotConfig):
    """``outer_lr`` under the run's schedule (read from the optimizer's own iteration)."""
    if config.outer_lr_schedule == "constant":
        return config.outer_lr
    if config.outer_lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.outer_lr,
                                                      decay_steps=max(config.steps, 1))
    return keras.optimizers.schedules.PolynomialDecay(config.outer_lr, max(config.steps, 1),
                                                      end_learning_rate=0.0)


def build_inner(config: FewShotConfig, variables: list, items: dict, dtype: str = "float32"):
    """The inner optimizer of the run; its meta-variables are added to ``items``."""
    if config.algorithm == "metasgd":
        rates = inner_lib.meta_sgd_learning_rates(variables, config.inner_lr, name="inner_lr")
        items["inner_learning_rates"] = rates
        return inner_lib.meta_sgd(rates)
    if config.algorithm == "meta_lstm":
        weights = meta_lstm_variables(variables, config.inner_lr, seed=config.seed)
        items["meta_lstm"] = weights
        return meta_lstm(weights)
    if config.per_step_lr:
        rates = inner_lib.per_step_learning_rates(len(variables), config.inner_steps,
                                                  config.inner_lr, name="inner_lr",
                                                  dtype=dtype)
        items["inner_learning_rates"] = rates
        return inner_lib.per_step(rates)
    return inner_lib.sgd(config.inner_lr)


def build_metric_nets(config: FewShotConfig, image_shape, *, dtype: str = "float32",
                      activation: str = "relu") -> MetricNets:
    """The Conv-4 embedding and head of a metric learner (Relation: 7x7 maps of 28x28)."""
    relation = config.algorithm == "relation"
    embedding = build_conv4_embedding(tuple(image_shape), filters=config.filters,
                                      pooling=config.pooling, pool_blocks=2 if relation else 4,
                                      flatten=not relation, activation=activation,
                                      dtype=dtype)
    features = tuple(int(s) for s in embedding.output_shape[1:])
    head = None
    if relation:
        head = build_relation_module(features, filters=config.filters, dtype=dtype)
    elif config.algorithm == "siamese":
        head = build_siamese_scorer(features[-1], dtype=dtype)
    elif config.fce:
        head = FullContextEmbedding(features[-1], steps=config.fce_steps, dtype=dtype,
                                    name="fce")
        head.build()
    return MetricNets(config.algorithm, embedding, head)


def build_metric(config: FewShotConfig, image_shape, *, dtype: str = "float32",
                 activation: str = "relu") -> Setup:
    """Nets, learner (Adam at ``outer_lr`` under its schedule) and checkpoint of a metric run."""
    nets = build_metric_nets(config, image_shape, dtype=dtype, activation=activation)
    learner = MetricLearner(nets, config.training_ways,
                            keras.optimizers.Adam(outer_learning_rate(config)))
    items: dict[str, Any] = {"model": nets.embedding, "step": learner.step,
                             "optimizer": learner.optimizer}
    if nets.head is not None:
        items["head"] = nets.head
    return Setup(config, nets.embedding, None, None, learner, tf.train.Checkpoint(**items),
                 nets)


def outer_optimizer(config: FewShotConfig) -> Callable[[], keras.optimizers.Optimizer]:
    """A factory of the run's outer optimizer (SGD for Reptile, else Adam), one per player."""
    rate = outer_learning_rate(config)
    if config.algorithm == "reptile":
        return lambda: keras.optimizers.SGD(rate)
    return lambda: keras.optimizers.Adam(rate)


def build_megan(config: FewShotConfig, image_shape, *, dtype: str = "float32",
                activation: str = "relu") -> Setup:
    """The N+1 Conv-4, the generator, their objective, inner optimizers, learner, checkpoint."""
    model = build_conv4(config.ways + 1, tuple(image_shape), filters=config.filters,
                        pooling=config.pooling, activation=activation, dtype=dtype,
                        per_step_rows=config.inner_steps + 1 if config.per_step_bn else 0)
    generator = build_conditional_generator(tuple(image_shape), ways=config.ways,
                                            conditioning=config.conditioning,
                                            noise_dim=config.noise_dim,
                                            width=config.generator_filters, dtype=dtype)
    objective = megan_objective(model, generator, ways=config.ways,
                                real_weight=config.real_weight, fake_weight=config.fake_weight,
                                fakes_from=config.fakes_from, outer_loss=config.outer_loss)
    items: dict[str, Any] = {"model": model, "generator": generator}
    inner = {PLAYER: build_inner(config, model.trainable_variables, items, dtype),
             GENERATOR: inner_lib.sgd(config.generator_inner_lr)}
    learner = MetaLearner({PLAYER: model.trainable_variables,
                           GENERATOR: generator.trainable_variables}, objective, inner,
                          outer_optimizer(config),
                          algorithm="fomaml" if config.first_order else "maml",
                          inner_steps=config.inner_steps, step_weights=config.step_weights,
                          anneal_steps=config.anneal_steps)
    items.update(step=learner.step, optimizer=learner.outer[PLAYER],
                 generator_optimizer=learner.outer[GENERATOR])
    return Setup(config, model, objective, inner, learner, tf.train.Checkpoint(**items),
                 generator=generator)


# HSML on images (the paper's code for image tasks): clusters 4 then 2, sigma 10; here a gate
# per output unit (a gate per entry of Conv-4 would take millions of gate weights) and the
# support set described by 4x4-pooled pixels and one-hot labels.
HSML_CLUSTERS, HSML_SIGMA, HSML_POOL = (4, 2), 10.0, 4


def describe_episode(ways: int) -> Callable:
    """``(images, labels) -> [n, pixels / 16 + ways]``: HSML's description of each support
    image, its 4x4 average-pooled pixels and its one-hot label."""
    def describe(batch):
        images, labels = batch
        pooled = tf.nn.avg_pool2d(images, HSML_POOL, HSML_POOL, "VALID")
        flat = tf.reshape(pooled, [tf.shape(pooled)[0], -1])
        return tf.concat([flat, tf.one_hot(labels, ways, dtype=flat.dtype)], axis=-1)
    return describe


def build_hsml(config: FewShotConfig, model: keras.Model, items: dict, dtype: str):
    """HSML's modulation of Conv-4's initialization; its variables are added to ``items``."""
    height, width, channels = (int(s) for s in model.inputs[0].shape[1:])
    features = (height // HSML_POOL) * (width // HSML_POOL) * channels + config.ways
    weights = hsml_variables([v.shape for v in model.trainable_variables], features,
                             clusters=HSML_CLUSTERS, gate="unit", seed=config.seed, dtype=dtype)
    items["hsml"] = weights
    return hsml(weights, describe_episode(config.ways), sigma=HSML_SIGMA)


def build(config: FewShotConfig, image_shape, *, dtype: str = "float32",
          activation: str = "relu") -> Setup:
    """Conv-4, objective, inner optimizer, learner and checkpoint of a run."""
    keras.utils.set_random_seed(config.seed)
    if config.metric:
        return build_metric(config, image_shape, dtype=dtype, activation=activation)
    if config.megan:
        return build_megan(config, image_shape, dtype=dtype, activation=activation)
    model = build_conv4(config.ways, tuple(image_shape), filters=config.filters,
                        pooling=config.pooling, activation=activation, dtype=dtype,
                        per_step_rows=config.inner_steps + 1 if config.per_step_bn else 0)
    objective = classification_objective(model)
    items: dict[str, Any] = {"model": model}
    inner = build_inner(config, model.trainable_variables, items, dtype)
    modulation = build_hsml(config, model, items, dtype) if config.algorithm == "hsml" else None
    learner = MetaLearner({PLAYER: model.trainable_variables}, objective, inner,
                          outer_optimizer(config),
                          algorithm=("maml" if config.algorithm in ("metasgd", "meta_lstm",
                                                                    "hsml")
                                     else config.algorithm),
                          inner_steps=config.inner_steps, step_weights=config.step_weights,
                          anneal_steps=config.anneal_steps,
                          first_order_steps=config.first_order_steps,
                          modulation={PLAYER: modulation} if modulation else None)
    items["step"] = learner.step
    items["optimizer"] = learner.outer[PLAYER]
    return Setup(config, model, objective, inner, learner, tf.train.Checkpoint(**items),
                 modulation=modulation)
