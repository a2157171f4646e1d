"""Few-shot classification (N-way K-shot): MAML and kin, and metric learners.

* :class:`FewShotConfig` -- a run's settings (defaults: the CPU recipe), its
  fields in blocks by family (:mod:`.fields`); :data:`PAPER` the published
  settings per (ways, shots);
* :mod:`.learners` -- the registry of learners (``algorithm`` names one):
  how each builds, trains, adapts, scores and is served;
* :func:`load_data`, :func:`build` -- data splits, Conv-4, learner, checkpoint;
* :func:`run` -- meta-trains or resumes a run directory, with a learning
  curve of held-out accuracy (``curve.json``);
* :func:`load_run` -- rebuilds a run and restores its latest checkpoint;
* :func:`adapt`, :func:`classify` -- adaptation to a support set and query
  probabilities, as evaluation and export use them (:func:`generated`: MeGAN's
  generated support images);
* :func:`episode_accuracies`, :func:`summary` -- held-out accuracy with a 95%
  interval (:func:`scoring_overrides`: a stored run scored another way).

Example:
    >>> from tfmeta.experiments import few_shot
    >>> result = few_shot.run(few_shot.FewShotConfig(steps=2000), "runs/omniglot_5w1s")
    >>> setup, splits = few_shot.load_run("runs/omniglot_5w1s")
    >>> few_shot.summary(few_shot.episode_accuracies(setup, splits.test, episodes=600,
    ...                                              inner_steps=3))
"""

from tfmeta.experiments.few_shot import learners
from tfmeta.experiments.few_shot.adaptation import (adapt, classify, generated, initial_params,
                                                    logits)
from tfmeta.experiments.few_shot.build import (FewShotSetup, build, load_data,
                                               training_sampler)
from tfmeta.experiments.few_shot.config import (ALGORITHMS, GRADIENT_ALGORITHMS, METRIC_ALGORITHMS,
                                                FewShotConfig)
from tfmeta.experiments.few_shot.presets import (MEGAN_CPU, MEGAN_PAPER, METRIC_CPU, METRIC_PAPER,
                                                 PAPER, PRESETS)
from tfmeta.experiments.few_shot.evaluate import episode_accuracies, scoring_overrides, summary
from tfmeta.experiments.few_shot.run import (CURVE_FILE, load_run, read_config, read_curve,
                                             run)

__all__ = ["ALGORITHMS", "CURVE_FILE", "FewShotConfig", "FewShotSetup", "GRADIENT_ALGORITHMS",
           "MEGAN_CPU", "MEGAN_PAPER", "METRIC_ALGORITHMS", "METRIC_CPU", "METRIC_PAPER", "PAPER",
           "PRESETS", "adapt", "build", "classify", "episode_accuracies", "generated",
           "initial_params", "learners", "load_data", "load_run", "logits", "read_config",
           "read_curve", "run", "scoring_overrides", "summary", "training_sampler"]
