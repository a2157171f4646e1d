"""``baseline``: pre-train a classifier over every meta-train class, score episodes by centroids.

The pre-train + nearest-centroid baseline (Chen et al. 2019, "A Closer Look at
Few-shot Classification"; Tian et al. 2020, RFS; SimpleShot's L2-normalized
nearest centroid): the run's `backbone` as an embedding with moving-average
batch norm (as the metric learners') and a linear classifier over all the
meta-train classes, trained by cross-entropy on plain mini-batches of
`batch_size` images (:class:`tfmeta.data.ImageBatchSampler`: epochs of every
image, a batch a pure function of seed and step, augmented as `augment` says)
with `baseline_optimizer` (Adam, or RFS's SGD with momentum 0.9) at `outer_lr`
under the run's schedule and `weight_decay` added to the gradients, one update
per mini-batch (:class:`tfmeta.metric.BaselineLearner`). It has no inner loop and belongs to
the metric family: an episode is scored from the frozen embedding's support
features, the classifier unused -- by default each class is the mean of its
support images' L2-normalized features and a query goes to the nearest one
(method ``centroid`` of :mod:`tfmeta.metric.episodes`); with `baseline_head`
logistic a logistic regression is fit on those features in the graph (method
``logistic``, RFS's head), with finetune a new linear head imprinted with the
class means takes `finetune_steps` gradient steps at `finetune_lr` on them
(method ``finetune``, Chen et al.'s Baseline, head only) -- so it scores and serves
episodes of any N exactly as the metric learners do (their ``adapt``,
``logits``, ``transductive_logits`` and ``serving``).

Example:
    >>> setup = get("baseline").build(config, (28, 28, 1), classes=splits.train.num_classes)
    >>> setup.learner.classifier.units == splits.train.num_classes
    True
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf

from tfmeta.data import ImageBatchSampler
from tfmeta.experiments.few_shot.fields import BaselineFields
from tfmeta.experiments.few_shot.fields.baseline import MOMENTUM
from tfmeta.experiments.few_shot.learners import metric
from tfmeta.experiments.few_shot.learners.components import outer_optimizer
from tfmeta.experiments.few_shot.registry import Config, FewShotSetup, LearnerSpec, register
from tfmeta.metric import BaselineLearner, MetricNets


def build_baseline(config: Config, image_shape, *, dtype: str = "float32",
                   activation: str = "relu", classes: int | None = None) -> FewShotSetup:
    """The embedding, the classifier over ``classes`` meta-train classes, the optimizer and
    the checkpoint."""
    if classes is None:
        raise ValueError("`algorithm`=baseline needs the number of meta-train classes: "
                         "few_shot.build(config, image_shape, classes=splits.train.num_classes)")
    embedding = metric.metric_embedding(config, image_shape, dtype=dtype, activation=activation)
    kind = (functools.partial(keras.optimizers.SGD, momentum=MOMENTUM)
            if config.baseline_optimizer == "sgd" else None)
    learner = BaselineLearner(embedding, classes, outer_optimizer(config, kind), dtype=dtype,
                              weight_decay=config.weight_decay)
    checkpoint = tf.train.Checkpoint(model=embedding, classifier=learner.classifier,
                                     step=learner.step, optimizer=learner.optimizer)
    return FewShotSetup(config, embedding, None, None, learner, checkpoint,
                        MetricNets(config.baseline_head, embedding,
                                   finetune_steps=config.finetune_steps,
                                   finetune_lr=config.finetune_lr))


def batches(config: Config, sampler) -> ImageBatchSampler:
    """Its training stream: mini-batches of `batch_size` images of every meta-train class
    (of the episode sampler's dataset), labelled by class index, augmented by `augment`."""
    images = sampler.dataset.num_images
    if config.batch_size > images:
        raise ValueError(f"`batch_size`={config.batch_size} is more than the {images} images of "
                         "the meta-train classes")
    return ImageBatchSampler(sampler.dataset, batch_size=config.batch_size, seed=config.seed,
                             augment=config.augment)


def serving_metadata(setup: FewShotSetup) -> dict:
    config = setup.config
    finetune = ({"finetune_steps": config.finetune_steps, "finetune_lr": config.finetune_lr}
                if config.baseline_head == "finetune" else {})
    return {"trained_classes": int(setup.learner.classifier.units),
            "baseline_head": config.baseline_head, **finetune}


register(LearnerSpec(
    name="baseline", family="metric",
    help="pre-training (Chen et al. 2019, RFS): the embedding and a classifier over every "
         "meta-train class on plain mini-batches of `batch_size`; an episode is scored from the "
         "support's L2-normalized features by `baseline_head`, the classifier unused",
    build=build_baseline, adapt=metric.adapt, logits=metric.logits,
    transductive_logits=metric.transductive_logits, serving=metric.serving,
    serving_metadata=serving_metadata, blocks=(BaselineFields,), episodes=batches,
    any_ways=True, backbones=("conv4", "resnet12"), classes=True))
