"""Keras models as pure functions of their parameters.

Meta-learning needs the forward pass of a model at parameters that are not its
variables (the fast weights of an inner loop). Keras 3 provides exactly that
through ``model.stateless_call``; this module wraps it so that every part of
tfmeta treats a model as ``apply(model, params, inputs)``.

Parameters are a plain ``list`` of tensors in the order of
``model.trainable_variables``. Nothing here assigns to a variable, so the
functions are safe inside ``tf.function``, under nested ``GradientTape``s and in
concurrently served graphs.

Non-trainable state (BatchNorm moving statistics) -- the deliberate choice:
the inner loop never updates it. ``apply`` reads the model's current
non-trainable values and discards the updated values that ``stateless_call``
returns. With ``training=True`` a BatchNorm layer normalizes with the statistics
of the current batch (transductive batch norm, as in the original MAML code);
with ``training=False`` it uses the stored moving averages. Keeping the
statistics out of the inner loop means an adapted model is fully described by
its trainable tensors, which is what export and serving rely on.

Example:
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> params = params_of(model)
    >>> fast = [p - 0.1 for p in params]
    >>> y = apply(model, fast, tf.ones((2, 1)))
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf

Params = list  # list[tf.Tensor] in model.trainable_variables order.


def variables_of(model: keras.Model) -> list:
    """Returns the model's trainable variables (the meta-learned parameters)."""
    if not model.built:
        raise ValueError(
            f"model {model.name!r} is not built; call it once or give it an Input "
            "before taking its parameters")
    return list(model.trainable_variables)


def params_of(model: keras.Model) -> Params:
    """Returns the model's trainable parameters as a list of tensors.

    Reading the variables inside a ``GradientTape`` keeps the link to them, so
    gradients with respect to the returned tensors flow to the variables.
    """
    return [tf.convert_to_tensor(v) for v in variables_of(model)]


def check_params(model: keras.Model, params: Sequence[Any], what: str = "params") -> None:
    """Raises ValueError unless ``params`` matches the model's parameter structure."""
    variables = variables_of(model)
    if len(params) != len(variables):
        raise ValueError(
            f"{what} has {len(params)} tensors but model {model.name!r} has "
            f"{len(variables)} trainable variables")
    for i, (p, v) in enumerate(zip(params, variables)):
        shape = getattr(p, "shape", None)
        if shape is None or tuple(shape) != tuple(v.shape):
            raise ValueError(
                f"{what}[{i}] has shape {shape} but variable {v.path!r} of model "
                f"{model.name!r} has shape {tuple(v.shape)}")


def apply(model: keras.Model, params: Sequence[tf.Tensor], inputs: Any,
          training: bool = False) -> Any:
    """Runs ``model`` on ``inputs`` with ``params`` in place of its trainable variables.

    Args:
      model: a built Keras 3 model.
      params: tensors in ``model.trainable_variables`` order (checked at trace time).
      inputs: what the model takes.
      training: passed to the layers (dropout, batch norm); see the module docstring
        for how non-trainable state is handled.

    Returns:
      The model's outputs. Updated non-trainable values are discarded on purpose.
    """
    check_params(model, params)
    non_trainable = [v.value for v in model.non_trainable_variables]
    outputs, _ = model.stateless_call(list(params), non_trainable, inputs,
                                      training=training)
    return outputs


def head_indices(model: keras.Model) -> tuple[int, ...]:
    """Indices in ``model.trainable_variables`` of its head: the last layer with trainable
    weights (inside a nested model, that model's last one). What ANIL adapts (Raghu et al.
    2020): ``MetaLearner(..., adapt_only={"model": head_indices(model)})``.

    Example:
        >>> head_indices(build_conv4(ways=5))     # the Dense head's kernel and bias
        (16, 17)

    Raises:
      ValueError: the model has no layer with trainable weights.
    """
    variables = variables_of(model)
    layer = model
    while True:
        owners = [sub for sub in getattr(layer, "layers", []) if sub.trainable_weights]
        if not owners:
            break
        layer = owners[-1]
    ids = {id(w) for w in layer.trainable_weights}
    indices = tuple(i for i, v in enumerate(variables) if id(v) in ids)
    if layer is model or not indices:
        raise ValueError(f"model {model.name!r} has no layer with trainable weights to serve as "
                         "its head")
    return indices


def num_params(model: keras.Model) -> int:
    """Total number of scalar trainable parameters."""
    return int(sum(int(tf.size(v)) for v in variables_of(model)))
