"""MAML vs. pre-training on sinusoid regression (Finn et al. 2017, section 5.1).

MAML meta-trains a 1-40-40-1 ReLU network so that a few SGD steps on K points of
an unseen sinusoid fit it; the baseline pre-trains the same network on points
pooled over all tasks (regressing to the mean curve) and is fine-tuned the same
way. Both are scored on held-out tasks by the query MSE after 0..k steps.
The package: :mod:`.config` (settings), :mod:`.run` (models, training, scoring).

Example:
    >>> from tfmeta.experiments import sinusoid
    >>> results = sinusoid.run(sinusoid.SinusoidConfig(steps=2000))
    >>> results["maml"]["mse"]["1"]
"""

from tfmeta.experiments.sinusoid.config import SinusoidConfig
from tfmeta.experiments.sinusoid.files import save
from tfmeta.experiments.sinusoid.run import build_regressor, mse_objective, run

__all__ = ["SinusoidConfig", "build_regressor", "mse_objective", "run", "save"]
