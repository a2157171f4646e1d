"""Few-shot classification: the cross-entropy objective and accuracy (one player, ``"model"``).

Example:
    >>> from tfmeta import classify
    >>> objective = classify.classification_objective(build_conv4(ways=5))
"""

from tfmeta.classify.objective import (PLAYER, accuracy, classification_objective,
                                       cross_entropy, logits_of)

__all__ = ["PLAYER", "accuracy", "classification_objective", "cross_entropy", "logits_of"]
