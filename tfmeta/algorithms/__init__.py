"""Meta-learning algorithms over players: the inner loop, MAML, Meta-SGD, Reptile.

Public API:
  adaptation_trajectory(objective, params, batches, inner, *, inner_steps, seed, first_order)
    -> the trajectory [params_0, ..., params_k]
  adapted_params_and_carry(..., after_step, carry) -> (adapted_params, carry): the same
    steps as one tf.while_loop, folding ``after_step`` over them
  rematerialize(fn, *args): fn(*args) with its activations recomputed for the gradient
  maml_losses(objective, params, task, inner, *, inner_steps, first_order, step_weights)
  meta_gradients(objective, variables, task, inner, *, inner_steps, first_order, step_weights)
  reptile_direction(objective, params, task, inner, *, inner_steps)
  step_weights(kind, steps, iteration, anneal_steps)
  MetaLearner: owns the variables and outer optimizers; ``train_step(tasks)``,
    ``learning_rates()``; a ``tfmeta.types.Learner``.
  InnerLoop(inner_steps, step_weights, anneal_steps, first_order_steps, remat, unroll,
    carry_inner_state): a MetaLearner's inner-loop settings as one value
    (``MetaLearner(..., inner_loop=InnerLoop(...))``; the keywords still work).

Tasks give their inner and validation batches per step or as one
``tfmeta.types.Reused`` batch (an episode's support and query sets).

ANIL is a selection, not another algorithm: ``adapt_only={player: indices}`` (the inner
loop's functions, ``InnerLoop``, ``MetaLearner``) adapts only those tensors, e.g. the head
(:mod:`.selection`, ``tfmeta.functional.head_indices``).

Deprecated names (they warn, and work as before; :mod:`.renamed`): ``adapt`` for
``adaptation_trajectory``, ``adapt_loop`` for ``adapted_params_and_carry``; ``steps=``
for ``inner_steps=`` of ``adaptation_trajectory``, ``adapt``, ``adapt_loop``,
``maml_losses``, ``meta_gradients``, ``reptile_direction`` and ``MetaLearner``.
"""

from tfmeta.algorithms.adapt import (adaptation_trajectory, adapted_params_and_carry,
                                     step_seed, step_weights)
from tfmeta.algorithms.inner_loop import InnerLoop
from tfmeta.algorithms.meta_learner import ALGORITHMS, MetaLearner
from tfmeta.algorithms.maml import maml_losses, meta_gradients, meta_variables
from tfmeta.algorithms.remat import rematerialize
from tfmeta.algorithms.renamed import adapt, adapt_loop
from tfmeta.algorithms.reptile import mini_batches, reptile_direction, whole_episodes

__all__ = ["adaptation_trajectory", "adapted_params_and_carry", "adapt", "adapt_loop",
           "rematerialize", "step_seed", "step_weights", "InnerLoop", "MetaLearner", "ALGORITHMS",
           "mini_batches", "maml_losses", "meta_gradients", "meta_variables",
           "reptile_direction", "whole_episodes"]
