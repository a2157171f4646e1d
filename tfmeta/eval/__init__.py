"""Evaluation of few-shot generation: the critic classifier of paper 000 (section 4.2).

* :func:`build_critic` / :func:`critic_features` -- the ResNet critic (four
  residual blocks) and its penultimate features.
* :func:`critic_data` -- every class of a dataset (meta-train and meta-test
  merged) with a per-class held-out part; :func:`labels_for_class_ids` maps
  source class ids to critic labels.
* :class:`CriticConfig`, :func:`train_critic`, :func:`evaluate_critic`,
  :func:`save_critic`, :func:`load_critic`.

Example:
    >>> from tfmeta.eval import CriticConfig, train_critic, save_critic, load_critic
    >>> model, report = train_critic(CriticConfig(dataset="mnist", download=False))
    >>> save_critic(model, report, "/tmp/critic_mnist")
    >>> critic, info = load_critic("/tmp/critic_mnist")
"""

from tfmeta.eval.critic import (CriticConfig, CriticData, build_critic, critic_data,
                                critic_features, evaluate_critic, heldout_count,
                                labels_for_class_ids, load_critic, save_critic, train_critic)

__all__ = [
    "CriticConfig",
    "CriticData",
    "build_critic",
    "critic_data",
    "critic_features",
    "evaluate_critic",
    "heldout_count",
    "labels_for_class_ids",
    "load_critic",
    "save_critic",
    "train_critic",
]
