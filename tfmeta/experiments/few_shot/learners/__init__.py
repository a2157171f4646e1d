"""The built-in few-shot learners, one module per learner or family, registered on import.

A learner is a :class:`LearnerSpec` in the registry
(:mod:`tfmeta.experiments.few_shot.registry`); the config field `algorithm`
takes the name of any registered one, and the experiment builds, trains,
evaluates and exports it through its spec alone. A new algorithm is one module
here that calls :func:`register`, and one import line below (the order of the
imports is the order of the `algorithm` choices).

* :mod:`.gradient` -- the gradient family and ``maml``, ``fomaml``,
  ``metasgd``, ``meta_lstm``; :mod:`.hsml`; :mod:`.reptile`; :mod:`.megan`;
* :mod:`.metric` -- ``protonet``, ``matching``, ``relation``, ``siamese``;
* :mod:`.baseline` -- ``baseline`` (pre-training, then nearest centroid).

Example:
    >>> from tfmeta.experiments.few_shot import learners
    >>> learners.get("maml").family
    'gradient'
"""

# Importing a learner's module registers it.
from tfmeta.experiments.few_shot.learners import gradient, hsml, reptile, megan, metric
from tfmeta.experiments.few_shot.learners import baseline
from tfmeta.experiments.few_shot.registry import (FewShotSetup, LearnerSpec, get, names, register,
                                                  unregister)

__all__ = ["FewShotSetup", "LearnerSpec", "baseline", "get", "gradient", "hsml", "megan",
           "metric", "names", "register", "reptile", "unregister"]
