"""MAML for reinforcement learning on 2D navigation (Finn et al. 2017, section 5.3, Figure 5).

MAML meta-trains a Gaussian MLP policy so that one policy-gradient step on 20
rollouts toward a new goal reaches it; the baselines are a policy trained on
all goals without adaptation (pre-trained) and the random initialization, all
fine-tuned the same way. The package: :mod:`.config`, :mod:`.build`, :mod:`.run`,
:mod:`.figures`.

Example:
    >>> from tfmeta.experiments import maml_rl
    >>> result = maml_rl.run(maml_rl.MamlRLConfig(steps=100), "runs/nav")
"""

from tfmeta.experiments.maml_rl.config import MamlRLConfig
from tfmeta.experiments.maml_rl.run import (FIGURE_FILE, RESULTS_FILE, check_workdir, evaluate,
                                            read_curve, run, stored_settings)

__all__ = ["FIGURE_FILE", "MamlRLConfig", "RESULTS_FILE", "check_workdir", "evaluate",
           "read_curve", "run", "stored_settings"]
