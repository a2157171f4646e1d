"""Adapting a MAML-GAN run's players to new images: parameters, trajectories, results.

Used by the sample grids, the evaluation and the exports: all of them adapt
both players from a run's (or a random) initialization with the run's own
inner optimizers.

Example:
    >>> adapted = adapted_params(setup, params_of(setup), images, [0, 7], inner_steps=10)
    >>> samples = generate(setup.generator, adapted["generator"], z)
"""

from __future__ import annotations

import tensorflow as tf

from tfmeta import functional
from tfmeta import algorithms
from tfmeta.algorithms import adapted_params_and_carry
from tfmeta.experiments.maml_gan.build import MamlGanSetup


def params_of(setup: MamlGanSetup) -> dict[str, list]:
    """Both players' current parameters (tensors read from the variables)."""
    return {"generator": functional.params_of(setup.generator),
            "discriminator": functional.params_of(setup.discriminator)}


def adaptation_trajectory(setup: MamlGanSetup, params, images: tf.Tensor, seed, inner_steps: int,
                          inner=None):
    """Adapts both players on ``images [k, B, H, W, C]``; returns the trajectory.

    :func:`tfmeta.algorithms.adaptation_trajectory` with the run's objective and
    inner optimizers (or ``inner``).
    """
    return algorithms.adaptation_trajectory(setup.objective, params, images,
                                            inner or setup.inner, inner_steps=inner_steps,
                                            seed=tf.convert_to_tensor(seed, tf.int32))


def adapted_params(setup: MamlGanSetup, params, images: tf.Tensor, seed, inner_steps: int):
    """Both players after ``inner_steps`` inner steps on ``images [k, B, H, W, C]``.

    The last entry of :func:`adaptation_trajectory`, computed as one symbolic
    loop (:func:`tfmeta.algorithms.adapted_params_and_carry`): inside a
    ``tf.function`` the step is traced once, so the graph (an export's,
    evaluate's) and its trace time do not grow with ``inner_steps``.
    """
    adapted, _ = adapted_params_and_carry(setup.objective, params, images, setup.inner,
                                          inner_steps=inner_steps,
                                          seed=tf.convert_to_tensor(seed, tf.int32))
    return adapted
