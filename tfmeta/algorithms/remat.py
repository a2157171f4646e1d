"""``rematerialize``: a function whose activations are recomputed for the gradient.

Trades compute for memory in the inner loop (``remat=True`` of
:func:`tfmeta.algorithms.adaptation_trajectory` and :func:`tfmeta.algorithms.maml.maml_losses`):
a tape around the call keeps only the function's inputs and outputs.
"""

from __future__ import annotations

import tensorflow as tf


def rematerialize(fn, *args):
    """``fn(*args)``, with its intermediate tensors recomputed for the gradient.

    ``args`` and the result are nests of float tensors. A tape around the call
    records only the result's dependence on ``args`` (and on variables ``fn``
    reads, such as Meta-SGD's learning rates): when the gradient reaches the
    result, ``fn`` runs again under its own tape, and the vector-Jacobian
    product is taken there. ``fn`` may itself take gradients (an inner step
    does), and these are differentiated exactly: the recomputation tape records
    the inner tape's gradient ops.

    The recomputation is made to wait for the incoming gradient (a control
    dependency), otherwise the graph executor would run it during the forward
    pass and hold its tensors anyway -- the reason ``tf.recompute_grad`` saves
    no memory in ``tf.function`` (tensorflow/tensorflow#36981). Graph mode only:
    eagerly, ``tf.custom_gradient`` stops all tapes inside ``fn``.

    Inside a ``tf.while_loop`` body
    (:func:`tfmeta.algorithms.adapted_params_and_carry`), ``fn`` must read only
    tensors of that body: pass outside tensors in through ``args`` or compute
    them in the body first, and read no variables (TensorFlow's while-loop
    gradient rejects what the recomputation would capture).

    Example:
        >>> new_params, new_state, losses = rematerialize(step, params, state)
    """
    if tf.executing_eagerly():
        raise ValueError("rematerialize works inside tf.function only; call it from a "
                         "traced function (eagerly, tapes inside fn would be stopped)")
    structure = args
    flat_args = [tf.convert_to_tensor(a) for a in tf.nest.flatten(args)]
    out_structure = []

    def flat_fn(xs):
        result = fn(*tf.nest.pack_sequence_as(structure, list(xs)))
        out_structure[:] = [result]
        return [tf.convert_to_tensor(r) for r in tf.nest.flatten(result)]

    @tf.custom_gradient
    def forward(*xs):
        outputs = flat_fn(xs)

        def grad(*dys, variables=None):
            dys = [tf.zeros_like(o) if d is None else d for o, d in zip(outputs, dys)]
            with tf.control_dependencies(dys):
                again = [tf.identity(x) for x in xs]
            watched = list(variables or [])
            with tf.GradientTape() as tape:
                tape.watch(again)
                tape.watch(watched)
                recomputed = flat_fn(again)
            grads = tape.gradient(recomputed, again + watched, output_gradients=dys,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return grads[:len(again)], grads[len(again):]

        return outputs, grad

    flat_out = forward(*flat_args)
    return tf.nest.pack_sequence_as(out_structure[0], list(flat_out))
