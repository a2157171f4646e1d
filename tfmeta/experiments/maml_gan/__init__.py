"""Meta-learned GANs end to end (paper 000): MAML, FOMAML, Meta-SGD, FIGR, scratch.

A DCGAN generator/discriminator pair is meta-trained on the meta-train classes
of a dataset (a task = the images of one class) so that a few inner steps on
images of an unseen class give a generator for it (Algorithm 1 of paper 000).

Algorithms (``MamlGanConfig.algorithm``):

* ``maml``: second-order MAML-GAN, inner RMSprop, uniform multi-step loss;
* ``fomaml``: the same with first-order meta-gradients;
* ``metasgd``: MAML with one inner step and learned per-parameter learning
  rates (paper 000 trained it with the minimax loss only; both are allowed);
* ``reptile``: the FIGR baseline, Reptile + WGAN-GP, the inner optimizer of
  ``inner_optimizer`` (the cpu preset: RMSprop; paper: Adam with beta_1 0.5),
  outer SGD with step size ``reptile_step_size`` on ``init - adapted`` (or, with
  ``reptile_outer`` adam, the FIGR code's outer Adam at ``outer_lr``);
* ``scratch``: no meta-training ("Not pre-trained" in Table 1): the run holds
  the random initialization only.

The package: :mod:`.config` (settings, checks), :mod:`.presets`, :mod:`.build`
(models, learner, checkpoint), :mod:`.rundir` (config.json, resume checks,
reloading), :mod:`.adaptation`, :mod:`.figures` (sample grids), :mod:`.run`.

Example:
    >>> config = MamlGanConfig(dataset="mnist", steps=100, data_dir="../shared/tensorflow_datasets")
    >>> run(config, "runs/mnist")
"""

from tfmeta.experiments.maml_gan.adaptation import (
    adaptation_trajectory,
    adapted_params,
    params_of,
)
from tfmeta.experiments.maml_gan.build import (
    MamlGanSetup,
    adapting,
    build,
    load_data,
    outer_learning_rate,
)
from tfmeta.experiments.maml_gan.config import (
    ALGORITHMS,
    GRID_STEPS,
    GRID_SUPPORT,
    INNER_OPTIMIZERS,
    OUTER_LR_SCHEDULES,
    RESUMABLE_FIELDS,
    STEP_WEIGHTS,
    MamlGanConfig,
)
from tfmeta.experiments.maml_gan.figures import grid_classes, grid_image, sample_grid, write_grid
from tfmeta.experiments.maml_gan.presets import AUTO, PRESETS, resolve
from tfmeta.experiments.maml_gan.run import (
    check_workdir,
    load_run,
    read_config,
    run,
    stored_settings,
)
from tfmeta.experiments.rundir import latest_checkpoint, write_config
from tfmeta.gan import LOSSES

__all__ = [
    "ALGORITHMS", "GRID_STEPS", "GRID_SUPPORT", "INNER_OPTIMIZERS", "LOSSES",
    "AUTO", "OUTER_LR_SCHEDULES", "PRESETS", "RESUMABLE_FIELDS", "STEP_WEIGHTS", "MamlGanConfig",
    "MamlGanSetup", "adapting", "adaptation_trajectory", "adapted_params", "build", "check_workdir",
    "grid_classes", "grid_image", "latest_checkpoint", "load_data", "load_run",
    "outer_learning_rate", "params_of", "read_config", "resolve", "run",
    "sample_grid", "stored_settings", "write_config", "write_grid",
]
