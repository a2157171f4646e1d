"""Evaluation over plain callables: the critic protocol for few-shot generation.

* :mod:`tfmeta.eval.critic` -- use a trained critic: :func:`load_critic`,
  :func:`save_critic`, :func:`labels_for_class_ids`, :func:`evaluate_critic`
  (training it is :mod:`tfmeta.experiments.critic`).
* :mod:`tfmeta.eval.generation` -- a *source* is any callable
  ``source(task_number, class_index, samples) -> images``;
  :func:`evaluate_source` scores one (NLL, accuracy, Frechet distance, support
  distance ratio); :func:`adapted_source` builds one from an experiment's
  ``adapt_fn`` and ``sample_fn``, :func:`served_source` from an exported
  model's served adaptation, :func:`real_source` from real images;
  :func:`adapted_sources` and :func:`evaluate_sources` score several points of
  one adaptation (after 1, 5, 10... steps), adapting each task once.
* :mod:`tfmeta.eval.table` -- :func:`markdown_table` of scored rows;
  :func:`paired_difference` of two rows scored on the same tasks.

Nothing here imports an experiment.

Example:
    >>> from tfmeta.eval import GenerationEvalConfig, evaluate_source, load_critic, real_source
    >>> critic, info = load_critic("runs/critic_mnist")
    >>> labels = labels_for_class_ids(info["class_ids"], splits.test.class_ids)
    >>> row = evaluate_source(real_source(splits.test), splits.test, critic, labels,
    ...                       GenerationEvalConfig(tasks=16, samples=256))
"""

from tfmeta.eval.critic import evaluate_critic, labels_for_class_ids, load_critic, save_critic
from tfmeta.eval.generation import (GenerationEvalConfig, evaluate_source, evaluate_sources,
                                    frechet_distance)
from tfmeta.eval.sources import (Source, adapted_source, adapted_sources, real_source,
                                 served_source)
from tfmeta.eval.table import markdown_table, paired_difference

__all__ = [
    "GenerationEvalConfig",
    "Source",
    "adapted_source",
    "adapted_sources",
    "evaluate_critic",
    "evaluate_source",
    "evaluate_sources",
    "frechet_distance",
    "labels_for_class_ids",
    "load_critic",
    "markdown_table",
    "paired_difference",
    "real_source",
    "save_critic",
    "served_source",
]
