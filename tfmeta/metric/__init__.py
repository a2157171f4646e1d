"""Metric-based few-shot learners: Prototypical, Matching, Relation and Siamese networks.

They learn a comparison instead of an initialization: an embedding (Conv-4)
and, for some, a learned scorer, trained on episodes by plain gradient descent.
"Adapting" to a support set is computing its summary (:func:`support_state`:
prototypes, context embeddings or class feature maps) in the graph; a query is
classified against it (:func:`query_logits`).

* :mod:`tfmeta.metric.episodes` -- the pure math over a batch of episodes;
* :class:`MetricLearner` -- owns the nets, the optimizer and the step; a
  :class:`tfmeta.types.Learner` for :func:`tfmeta.training.meta_train`;
* :class:`BaselineLearner` -- the pre-trained baseline: the embedding and a
  classifier over every training class on plain mini-batches (scored at test
  by method ``centroid``).

Example:
    >>> nets = MetricNets("protonet", build_conv4_embedding())
    >>> learner = MetricLearner(nets, ways=60, optimizer=keras.optimizers.Adam(1e-3))
    >>> learner.train_step(sampler.meta_batch(0))
"""

from tfmeta.metric.baseline import BaselineLearner
from tfmeta.metric.episodes import (BATCH_STATISTICS, METHODS, MetricNets,
                                    cosine_similarities, embed, episode_loss, normalized,
                                    prototypes, query_logits, siamese_pair_logits,
                                    squared_distances, support_state)
from tfmeta.metric.metric_learner import MetricLearner

__all__ = ["BATCH_STATISTICS", "METHODS", "BaselineLearner", "MetricLearner", "MetricNets",
           "cosine_similarities", "embed", "episode_loss", "normalized", "prototypes",
           "query_logits", "siamese_pair_logits", "squared_distances", "support_state"]
