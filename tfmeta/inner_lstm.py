"""The LSTM meta-learner (Ravi & Larochelle 2017) as a differentiable inner optimizer.

The learner's parameters are the cell state of a coordinate-wise LSTM that
keeps only its input and forget gates (paper 002, slides on the meta-learner):

    theta_t = f_t * theta_{t-1} - i_t * grad_t
    i_t = sigmoid(W_I . [x_t, theta_{t-1}, i_{t-1}] + b_I)      a learned step size
    f_t = sigmoid(W_F . [x_t, theta_{t-1}, f_{t-1}] + b_F)      a learned decay

``x_t`` is the output of a first, ordinary LSTM layer (``hidden`` units)
whose input at each coordinate is the preprocessed gradient entry and the
preprocessed loss, as in the paper (Andrychowicz et al. 2016's preprocessing,
p = 10: ``(log|v| / p, sign v)`` where ``|v| >= e^-p``, else ``(-1, e^p v)``).
Every entry of every parameter tensor is one coordinate and all of them share
the meta-learner's weights, so it has ``4H(4 + H + 1) + 2(H + 3)`` parameters
(H = 20: 2,046) whatever the learner's size. With forget gate 1 and input gate
``alpha`` the update is an SGD step of ``alpha`` (the gradient-descent special
case the paper starts from; ``tests/tfmeta/inner_lstm_test.py``).

Initialization, as the paper's code: the forget-gate bias 5 (``f`` near 1: little
decay), the input-gate bias ``logit(initial_rate)`` (``i`` near the SGD rate),
the gate weights uniform in [-0.01, 0.01], the first layer Glorot-uniform with
forget bias 1; the gates of step 0 see ``i_0 = f_0 = 0``. The meta-learner's
weights are meta-variables (:attr:`tfmeta.inner.InnerOptimizer.variables`),
trained by the outer optimizer with the learner's initialization ``theta_0``,
which the paper also learns (its ``c_0``). The optimizer takes the loss
(``takes_loss``): the inner loop passes each step's loss to ``update``.

Example:
    >>> opt = meta_lstm(model.trainable_variables, initial_rate=0.4, seed=0)
    >>> state = opt.init(params)
    >>> params, state = opt.update(grads, state, params, loss=loss)
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from tfmeta.inner import InnerOptimizer, check_structure

PREPROCESS_P = 10.0
FORGET_BIAS = 5.0
GATE_INIT = 0.01


def preprocess(v: tf.Tensor, p: float = PREPROCESS_P) -> tf.Tensor:
    """``[..., 2]``: ``(log|v| / p, sign v)`` where ``|v| >= e^-p``, else ``(-1, e^p v)``."""
    large = tf.abs(v) >= math.exp(-p)
    safe = tf.where(large, tf.abs(v), tf.ones_like(v))      # no log(0) on the unused branch
    first = tf.where(large, tf.math.log(safe) / p, -tf.ones_like(v))
    second = tf.where(large, tf.sign(v), math.exp(p) * v)
    return tf.stack([first, second], axis=-1)


def meta_lstm_variables(variables: Sequence[Any], initial_rate: float, *, hidden: int = 20,
                        seed: int = 0, name: str = "meta_lstm") -> list:
    """The meta-learner's weights (trainable ``keras.Variable``s) for a learner's ``variables``.

    Only the dtype of ``variables`` is read (the weights are shared by every
    coordinate). Order: first layer ``kernel [4, 4H]``, ``recurrent [H, 4H]``,
    ``bias [4H]``; gates ``input_weights [H + 2]``, ``input_bias []``,
    ``forget_weights [H + 2]``, ``forget_bias []``.
    """
    import keras  # local: keeps this module importable without building Keras state
    if not 0.0 < float(initial_rate) < 1.0:
        raise ValueError(f"meta_lstm: initial_rate must be in (0, 1) (the input gate is a "
                         f"sigmoid), got {initial_rate!r}")
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"meta_lstm: hidden must be an int >= 1, got {hidden!r}")
    dtype = variables[0].dtype if variables else "float32"
    rng = np.random.default_rng(seed)
    h = hidden

    def glorot(rows, cols):
        limit = math.sqrt(6.0 / (rows + cols))
        return rng.uniform(-limit, limit, (rows, cols))

    bias = np.zeros(4 * h)
    bias[h:2 * h] = 1.0                                             # first layer's forget gate
    values = [("kernel", glorot(4, 4 * h)), ("recurrent", glorot(h, 4 * h)), ("bias", bias),
              ("input_weights", rng.uniform(-GATE_INIT, GATE_INIT, h + 2)),
              ("input_bias", np.array(math.log(initial_rate / (1.0 - initial_rate)))),
              ("forget_weights", rng.uniform(-GATE_INIT, GATE_INIT, h + 2)),
              ("forget_bias", np.array(FORGET_BIAS))]
    return [keras.Variable(tf.constant(v, dtype), dtype=dtype, name=f"{name}_{n}",
                           trainable=True) for n, v in values]


def meta_lstm(weights: Sequence[Any]) -> InnerOptimizer:
    """The LSTM meta-learner's update over a list of parameter tensors.

    Args:
      weights: the seven meta-variables of :func:`meta_lstm_variables`.
    """
    weights = tuple(weights)
    if len(weights) != 7:
        raise ValueError(f"meta_lstm: expected the 7 weights of meta_lstm_variables, got "
                         f"{len(weights)}")
    hidden = int(weights[1].shape[0])   # recurrent [H, 4H]

    def init(params):
        zeros = [tf.zeros([int(np.prod(p.shape)), hidden], p.dtype) for p in params]
        gates = [tf.zeros([int(np.prod(p.shape))], p.dtype) for p in params]
        return {"h": zeros, "c": list(zeros), "input": gates, "forget": list(gates)}

    def update(grads, state, params, loss=None):
        check_structure(grads, params, "meta_lstm")
        if loss is None:
            raise ValueError("meta_lstm: update needs the inner loss (loss=...)")
        dtype = params[0].dtype   # one player's parameters share a dtype
        kernel, recurrent, bias, w_in, b_in, w_fg, b_fg = [tf.cast(w, dtype) for w in weights]
        loss_features = preprocess(tf.cast(loss, dtype))[None]                    # [1, 2]
        new, out = [], {"h": [], "c": [], "input": [], "forget": []}
        for i, (g, p) in enumerate(zip(grads, params)):
            flat_g, flat_p = tf.reshape(g, [-1]), tf.reshape(p, [-1])
            inputs = tf.concat([preprocess(flat_g), tf.broadcast_to(
                loss_features, [tf.shape(flat_g)[0], 2])], axis=-1)               # [n, 4]
            z = inputs @ kernel + state["h"][i] @ recurrent + bias                # [n, 4H]
            zi, zf, zo, zg = tf.split(z, 4, axis=-1)
            c = tf.sigmoid(zf) * state["c"][i] + tf.sigmoid(zi) * tf.tanh(zg)
            h = tf.sigmoid(zo) * tf.tanh(c)
            input_gate = tf.sigmoid(tf.concat(
                [h, flat_p[:, None], state["input"][i][:, None]], axis=-1) @ w_in[:, None]
                + b_in)[:, 0]
            forget_gate = tf.sigmoid(tf.concat(
                [h, flat_p[:, None], state["forget"][i][:, None]], axis=-1) @ w_fg[:, None]
                + b_fg)[:, 0]
            new.append(tf.reshape(forget_gate * flat_p - input_gate * flat_g, tf.shape(p)))
            for key, value in (("h", h), ("c", c), ("input", input_gate),
                               ("forget", forget_gate)):
                out[key].append(value)
        return new, out

    return InnerOptimizer(init, update, weights, "meta_lstm", takes_loss=True)
