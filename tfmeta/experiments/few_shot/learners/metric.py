"""The metric family: a Conv-4 embedding (and a head) that learns a comparison, no inner loop.

``protonet`` (Snell et al. 2017; class means, squared Euclidean distance),
``matching`` (Vinyals et al. 2016; cosine attention over the support, `fce`),
``relation`` (Sung et al. 2018; a learned relation module on 7x7 feature maps)
and ``siamese`` (Koch et al. 2015; weighted L1 scorer of pairs), all trained
by Adam at ``outer_lr`` on the episodes' loss
(:class:`tfmeta.metric.MetricLearner`). Adapting is summarizing the support set
with the embedding in inference mode (moving batch-norm averages):
:func:`adapt` returns that state (:func:`tfmeta.metric.support_state`) and
:func:`logits` scores queries against it; inner steps do not apply.
:func:`transductive_logits` scores an episode's queries with the batch
statistics of its support and query images together, as training normalizes
(the Relation reference code's test, which never leaves training mode).

Example:
    >>> setup = get("relation").build(config, (28, 28, 1))
    >>> setup.nets.head                 # the relation module
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from tfmeta.experiments.few_shot.fields import MetricFields
from tfmeta.experiments.few_shot.learners.components import outer_optimizer, resnet12_widths
from tfmeta.experiments.few_shot.registry import (Config, FewShotSetup, LearnerSpec,
                                                  register)
from tfmeta.metric import (BATCH_STATISTICS, MetricLearner, MetricNets, embed, query_logits,
                           support_state)
from tfmeta.nets.conv4 import build_conv4_embedding
from tfmeta.nets.resnet12 import RAMP_STEPS, build_resnet12
from tfmeta.nets.metric_heads import (FullContextEmbedding, build_relation_module,
                                      build_siamese_scorer)
from tfmeta.savedmodel.common import variable_names


def metric_embedding(config: Config, image_shape, *, dtype: str = "float32",
                     activation: str = "relu", maps: bool = False):
    """The run's `backbone` as an embedding with moving-average batch norm: Conv-4 (``maps``:
    7x7 feature maps of 28x28, two pooled blocks, not flattened) or ResNet-12 (a vector;
    ``activation`` "relu" is the papers' leaky ReLU there)."""
    if getattr(config, "backbone", "conv4") == "resnet12":   # a vector: not for `maps`
        drop = getattr(config, "drop_rate", 0.0)   # dropout and DropBlock, as RFS
        return build_resnet12(None, tuple(image_shape), widths=resnet12_widths(config.filters),
                              norm="moving", dtype=dtype,
                              activation="leaky_relu" if activation == "relu" else activation,
                              drop_rate=drop, block_size=getattr(config, "drop_block_size", 5),
                              ramp_steps=RAMP_STEPS if drop else 0)
    return build_conv4_embedding(tuple(image_shape), filters=config.filters,
                                 pooling=config.pooling, pool_blocks=2 if maps else 4,
                                 flatten=not maps, activation=activation, dtype=dtype)


def build_metric(config: Config, image_shape, *, dtype: str = "float32",
                 activation: str = "relu", maps: bool = False,
                 head: Callable | None = None) -> FewShotSetup:
    """Nets, learner (Adam at ``outer_lr`` under its schedule) and checkpoint of a metric run.

    ``maps``: the embedding keeps 7x7 feature maps of 28x28 (two pooled
    blocks, not flattened); ``head(config, features, dtype)`` builds the head
    on the embedding's output shape (None: no head).
    """
    embedding = metric_embedding(config, image_shape, dtype=dtype, activation=activation,
                                 maps=maps)
    features = tuple(int(s) for s in embedding.output_shape[1:])
    nets = MetricNets(config.algorithm, embedding,
                      None if head is None else head(config, features, dtype),
                      scale=config.matching_scale)
    learner = MetricLearner(nets, config.training_ways, outer_optimizer(config))
    items: dict = {"model": nets.embedding, "step": learner.step,
                   "optimizer": learner.optimizer}
    if nets.head is not None:
        items["head"] = nets.head
    return FewShotSetup(config, nets.embedding, None, None, learner, tf.train.Checkpoint(**items),
                 nets)


def adapt(setup: FewShotSetup, support_images, support_labels, *, inner_steps: int = 0, params=None,
          seed=None, ways=None) -> dict:
    """The support state of ``ways`` classes (default: the run's); ``inner_steps`` do not apply."""
    del inner_steps, params, seed
    ways = setup.config.ways if ways is None else ways
    embeddings = embed(setup.nets, support_images[None], training=False)
    return support_state(setup.nets, embeddings, support_labels[None], ways)


def logits(setup: FewShotSetup, state: dict, images: tf.Tensor) -> tf.Tensor:
    """Class logits ``[Q, N]`` of ``images`` against the support state."""
    queries = embed(setup.nets, images[None], training=False)
    return query_logits(setup.nets, state, queries)[0]


def transductive_logits(setup: FewShotSetup, support_images, support_labels, images,
                        ways=None) -> tf.Tensor:
    """Class logits ``[Q, N]`` of ``images`` with batch norm normalizing by the statistics of
    the support and query images together (one batch, as in training; the heads by their
    own batch's), the moving averages left unchanged."""
    ways = setup.config.ways if ways is None else ways
    shots = tf.shape(support_images)[0]
    embeddings = embed(setup.nets, tf.concat([support_images, images], axis=0)[None],
                       training=BATCH_STATISTICS)
    state = support_state(setup.nets, embeddings[:, :shots], support_labels[None], ways,
                          training=BATCH_STATISTICS)
    return query_logits(setup.nets, state, embeddings[:, shots:], training=BATCH_STATISTICS)[0]


def serving(setup: FewShotSetup, inner_steps: int) -> dict:
    """The serving parts: the state is one episode's support state without its leading axis
    of 1 (shapes found by the module), of as many classes as the request's labels name
    (largest + 1: no head fixes them); the embedding's and head's variables (also the
    BatchNorm averages) are saved by name."""
    del inner_steps

    def adapt_fn(images, labels, seed):
        del seed   # nothing is drawn
        state = adapt(setup, images, labels, ways=tf.reduce_max(labels) + 1)
        return {n: t[0] for n, t in state.items()}

    def logits_fn(state, images):
        return logits(setup, {n: t[None] for n, t in state.items()}, images)

    nets = {"embedding": setup.nets.embedding, "head": setup.nets.head}
    return dict(adapt_fn=adapt_fn, logits_fn=logits_fn, variables={
        f"{kind}_variables": dict(zip(variable_names(net.variables, net.name), net.variables))
        for kind, net in nets.items() if net is not None})


def serving_metadata(setup: FewShotSetup) -> dict:
    return {"trained_ways": setup.config.training_ways, "fce": setup.config.fce}


def metric_learner(name: str, help: str, **build_options) -> LearnerSpec:
    """A metric-family :class:`LearnerSpec` built by :func:`build_metric` with these options."""
    without = build_options.pop("without", ("fce", "fce_steps", "matching_scale"))
    fixed_shots = build_options.pop("fixed_shots", False)
    backbones = ("conv4",) if build_options.get("maps") else ("conv4", "resnet12")

    def build(config, image_shape, *, dtype="float32", activation="relu"):
        return build_metric(config, image_shape, dtype=dtype, activation=activation,
                            **build_options)
    return LearnerSpec(name=name, family="metric", help=help, build=build, adapt=adapt,
                       logits=logits, transductive_logits=transductive_logits,
                       serving=serving, serving_metadata=serving_metadata,
                       blocks=(MetricFields,), without=without, any_ways=True,
                       fixed_shots=fixed_shots, backbones=backbones)


def _fce(config: Config, features: tuple, dtype: str):
    if not config.fce:
        return None
    head = FullContextEmbedding(features[-1], steps=config.fce_steps, dtype=dtype, name="fce")
    head.build()
    return head


register(metric_learner("protonet", "class means, squared Euclidean distance"))
register(metric_learner("matching", "cosine attention over the support (`fce`: full context embeddings)", head=_fce,
                        without=()))
register(metric_learner(
    "relation", "a learned relation module on feature maps, MSE to one-hot", maps=True,
    fixed_shots=True,
    head=lambda config, features, dtype: build_relation_module(
        features, filters=config.filters, dtype=dtype)))
register(metric_learner(
    "siamese", "same/different pairs; a query takes the class of its most similar support "
    "image", head=lambda config, features, dtype: build_siamese_scorer(features[-1],
                                                                      dtype=dtype)))
