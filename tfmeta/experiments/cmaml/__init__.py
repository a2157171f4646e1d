"""CMAML (Song et al. 2020) vs. plain MAML on few-shot Omniglot, with the same Conv-4 backbone.

* :class:`CmamlConfig` -- a run's settings (defaults: the CPU recipe); :data:`GPU`
  the full-length ones;
* :func:`load_data`, :func:`build`, :func:`training_sampler` -- data, the
  shared / gate / private modules (or Conv-4 alone), learner, checkpoint and
  the task stream with Algorithm 1's masks;
* :func:`run` -- meta-trains or resumes a run directory and writes
  ``results.json`` (held-out accuracy, sparsity, mask sharing);
* :func:`episode_scores`, :func:`sharing`, :func:`interval` -- the measurements.

Example:
    >>> from tfmeta.experiments import cmaml
    >>> results = cmaml.run(cmaml.CmamlConfig(steps=1000), "runs/cmaml")
"""

from tfmeta.experiments.cmaml.build import CmamlSetup, build, load_data, training_sampler
from tfmeta.experiments.cmaml.config import ALGORITHMS, GPU, CmamlConfig
from tfmeta.experiments.cmaml.evaluate import episode_scores, interval, sharing
from tfmeta.experiments.cmaml.run import RESULTS_FILE, check_workdir, run

__all__ = ["ALGORITHMS", "GPU", "RESULTS_FILE", "CmamlConfig", "CmamlSetup", "build",
           "check_workdir", "episode_scores", "interval", "load_data", "run", "sharing",
           "training_sampler"]
