"""HSML (Yao et al. 2019) against MAML on heterogeneous regression (paper 002).

The tasks are sinusoids, lines, quadratics and cubics
(:mod:`tfmeta.data.functions`); :func:`run` meta-trains one algorithm in a
run directory (checkpoints with exact resume) and scores it on held-out
tasks: MSE after 0..``eval_steps`` inner steps, per family, with 95%
intervals, and (HSML) each family's mean soft assignment to the first-level
clusters.

Example:
    >>> results = run(HSMLConfig(algorithm="hsml", steps=2000), "runs/hsml_5shot")
    >>> results["mse"]["5"], results["assignments"]["cubic"]
"""

from tfmeta.experiments.hsml.build import HSMLSetup, build, describe_regression
from tfmeta.experiments.hsml.config import ALGORITHMS, RESUMABLE_FIELDS, HSMLConfig
from tfmeta.experiments.hsml.run import (CURVE_FILE, RESULTS_FILE, check_workdir, evaluate,
                                         load_run, read_config, read_curve, run)

__all__ = ["ALGORITHMS", "RESUMABLE_FIELDS", "HSMLConfig", "HSMLSetup", "build",
           "describe_regression", "check_workdir", "evaluate", "load_run", "run", "read_config",
           "read_curve", "CURVE_FILE", "RESULTS_FILE"]
