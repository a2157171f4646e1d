"""Differentiable inner-loop optimizers as pure ``(init, update)`` pairs.

An inner optimizer never touches a variable: ``update`` maps gradients, its
state and the current parameters to new parameters and a new state, using only
differentiable tensor ops, so an outer ``GradientTape`` can differentiate
through any number of inner steps (second-order MAML) -- like
``optax.GradientTransformation``, but returning the new parameters directly.

Available: :func:`sgd`, :func:`rmsprop` (the MAML-GAN paper's inner optimizer),
:func:`adam`, :func:`meta_sgd` (per-parameter learning rates that are
meta-variables themselves, Li et al. 2017) and :func:`per_step` (MAML++'s
learned per-layer per-step rates, Antoniou et al. 2019); :mod:`tfmeta.inner_scales` scales
any of them per layer by meta-learned factors.

The square roots in RMSprop and Adam use :func:`safe_sqrt`, whose derivative
at zero is zero instead of infinity. A gradient entry that is exactly zero on
the first step (its second-moment estimate is 0) would otherwise turn the
meta-gradient into NaN (``0 * inf``); with the safe root the chain rule gives
the correct finite value, because the offending path is multiplied by the
zero gradient entry anyway.

Example:
    >>> opt = rmsprop(learning_rate=1e-4)
    >>> state = opt.init(params)
    >>> params, state = opt.update(grads, state, params)
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Sequence

import tensorflow as tf

from tfmeta import checks

State = Any


class InnerOptimizer(NamedTuple):
    """A differentiable optimizer for one player's list of parameter tensors.

    Attributes:
      init: ``params -> state``.
      update: ``(grads, state, params) -> (new_params, new_state)``; differentiable.
      variables: meta-variables the update reads (Meta-SGD learning rates); the
        meta-learner trains them with the player's meta-loss.
      name: for error messages and configs.
      takes_loss: ``update`` also takes the step's loss, ``update(grads, state,
        params, loss=loss)`` (the LSTM meta-learner, :mod:`tfmeta.inner_lstm`).
    """
    init: Callable[[Sequence[tf.Tensor]], State]
    update: Callable[..., tuple[list, State]]
    variables: tuple = ()
    name: str = "inner"
    takes_loss: bool = False


def safe_sqrt(x: tf.Tensor) -> tf.Tensor:
    """``sqrt(x)`` for ``x >= 0`` whose gradient at ``x == 0`` is 0, not inf."""
    positive = x > 0
    safe_x = tf.where(positive, x, tf.ones_like(x))
    return tf.where(positive, tf.sqrt(safe_x), tf.zeros_like(x))


def _const(x: Any, dtype: tf.DType) -> tf.Tensor:
    """``x`` in ``dtype``; Python numbers are converted exactly (no float32 detour)."""
    if isinstance(x, (int, float)):
        return tf.constant(x, dtype)
    return tf.cast(x, dtype)


def check_structure(grads: Sequence[Any], params: Sequence[Any], name: str) -> None:
    """Raises ValueError unless ``grads`` pairs with ``params``, tensor by tensor (shapes)."""
    if len(grads) != len(params):
        raise ValueError(
            f"{name}: got {len(grads)} gradients for {len(params)} parameters; "
            "they must match one to one")
    for i, (g, p) in enumerate(zip(grads, params)):
        if g is None:
            raise ValueError(
                f"{name}: gradient {i} is None (parameter of shape {p.shape} does "
                "not affect the loss)")
        if tuple(g.shape) != tuple(p.shape):
            raise ValueError(
                f"{name}: gradient {i} has shape {tuple(g.shape)} but its parameter "
                f"has shape {tuple(p.shape)}")


def _check_positive(name: str, **values: float) -> None:
    for key, value in values.items():
        if not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name}: {key} must be a positive number, got {value!r}")


def sgd(learning_rate: float | tf.Tensor) -> InnerOptimizer:
    """Plain gradient descent: ``p <- p - lr * g``.

    ``learning_rate``: a positive number, or a scalar tensor (unchecked: it may be symbolic),
    e.g. an argument of a ``tf.function``, which then needs no new trace for a new rate.

    Example:
        >>> new_params, _ = sgd(0.01).update(grads, (), params)
    """
    if not tf.is_tensor(learning_rate):
        _check_positive("sgd", learning_rate=learning_rate)

    def init(params):
        del params
        return ()

    def update(grads, state, params):
        check_structure(grads, params, "sgd")
        new = [p - _const(learning_rate, p.dtype) * g for p, g in zip(params, grads)]
        return new, state

    return InnerOptimizer(init, update, (), "sgd")


def rmsprop(learning_rate: float, rho: float = 0.9,
            epsilon: float = 1e-7) -> InnerOptimizer:
    """RMSprop as in paper 000 and PyTorch: ``v <- rho v + (1-rho) g^2``,
    ``p <- p - lr g / (sqrt(v) + eps)``, with ``v`` starting at zero.

    Example:
        >>> opt = rmsprop(1e-4, rho=0.9, epsilon=1e-7)
    """
    _check_positive("rmsprop", learning_rate=learning_rate, epsilon=epsilon)
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rmsprop: rho must be in [0, 1), got {rho!r}")

    def init(params):
        return [tf.zeros_like(p) for p in params]

    def update(grads, state, params):
        check_structure(grads, params, "rmsprop")
        new_params, new_state = [], []
        for p, g, v in zip(params, grads, state):
            c = lambda x: _const(x, p.dtype)  # noqa: E731
            v = c(rho) * v + c(1.0 - rho) * tf.square(g)
            new_params.append(p - c(learning_rate) * g / (safe_sqrt(v) + c(epsilon)))
            new_state.append(v)
        return new_params, new_state

    return InnerOptimizer(init, update, (), "rmsprop")


def adam(learning_rate: float, beta_1: float = 0.9, beta_2: float = 0.999,
         epsilon: float = 1e-7) -> InnerOptimizer:
    """Adam with bias correction (Kingma & Ba); FIGR uses ``beta_1 = 0.5``.

    Example:
        >>> opt = adam(1e-4, beta_1=0.5)
    """
    _check_positive("adam", learning_rate=learning_rate, epsilon=epsilon)
    for key, b in (("beta_1", beta_1), ("beta_2", beta_2)):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"adam: {key} must be in [0, 1), got {b!r}")

    def init(params):
        zeros = [tf.zeros_like(p) for p in params]
        return (tf.constant(0.0, tf.float64), zeros, list(zeros))

    def update(grads, state, params):
        check_structure(grads, params, "adam")
        t, ms, vs = state
        t = t + 1.0
        new_params, new_m, new_v = [], [], []
        for p, g, m, v in zip(params, grads, ms, vs):
            c = lambda x: _const(x, p.dtype)  # noqa: E731
            m = c(beta_1) * m + c(1.0 - beta_1) * g
            v = c(beta_2) * v + c(1.0 - beta_2) * tf.square(g)
            m_hat = m / c(1.0 - tf.pow(tf.constant(beta_1, tf.float64), t))
            v_hat = v / c(1.0 - tf.pow(tf.constant(beta_2, tf.float64), t))
            new_params.append(p - c(learning_rate) * m_hat / (safe_sqrt(v_hat) + c(epsilon)))
            new_m.append(m)
            new_v.append(v)
        return new_params, (t, new_m, new_v)

    return InnerOptimizer(init, update, (), "adam")


def meta_sgd(learning_rates: Sequence[Any]) -> InnerOptimizer:
    """Meta-SGD: ``p <- p - alpha * g`` with a learned ``alpha`` per parameter entry.

    Args:
      learning_rates: one variable per parameter tensor, of the same shape; they
        are meta-variables (see :func:`meta_sgd_learning_rates` to make them).

    Example:
        >>> lrs = meta_sgd_learning_rates(model.trainable_variables, 1e-3)
        >>> opt = meta_sgd(lrs)
    """
    learning_rates = tuple(learning_rates)
    if not learning_rates:
        raise ValueError("meta_sgd: learning_rates is empty; pass one variable per parameter")

    def init(params):
        if len(params) != len(learning_rates):
            raise ValueError(
                f"meta_sgd: {len(learning_rates)} learning-rate tensors for "
                f"{len(params)} parameters; they must match one to one")
        return ()

    def update(grads, state, params):
        check_structure(grads, params, "meta_sgd")
        check_structure(list(learning_rates), params, "meta_sgd learning rates")
        new = [p - tf.cast(a, p.dtype) * g for p, g, a in zip(params, grads, learning_rates)]
        return new, state

    return InnerOptimizer(init, update, learning_rates, "meta_sgd")


def meta_sgd_learning_rates(variables: Sequence[Any], initial: float,
                            name: str = "meta_sgd_lr") -> list:
    """Creates one trainable ``keras.Variable`` of learning rates per parameter."""
    import keras  # local: keeps this module importable without building Keras state
    _check_positive("meta_sgd_learning_rates", initial=initial)
    return [keras.Variable(tf.fill(v.shape, tf.constant(initial, v.dtype)), dtype=v.dtype,
                           name=f"{name}_{i}", trainable=True)
            for i, v in enumerate(variables)]


def per_step(learning_rates: Any) -> InnerOptimizer:
    """MAML++'s LSLR: SGD with a learned rate per parameter tensor and per inner step.

    ``p_i <- p_i - learning_rates[j, i] * g_i`` at step ``j`` (the state counts
    the steps). The rates are a meta-variable (see :func:`per_step_learning_rates`).

    Example:
        >>> opt = per_step(per_step_learning_rates(len(params), inner_steps=5, initial=0.1))
    """
    if getattr(learning_rates, "shape", None) is None or len(learning_rates.shape) != 2:
        raise ValueError("per_step: learning_rates must be a [steps, parameters] variable, "
                         f"got {learning_rates!r}")
    steps, count = (int(d) for d in learning_rates.shape)

    def init(params):
        if len(params) != count:
            raise ValueError(f"per_step: rates for {count} parameter tensors but got "
                             f"{len(params)}; they must match one to one")
        return tf.constant(0, tf.int32)

    def update(grads, state, params):
        check_structure(grads, params, "per_step")
        # A one-hot row pick (not gather): its gradient is a dense tensor, which the loop
        # over tasks can add up.
        pick = tf.one_hot(tf.minimum(state, steps - 1), steps, dtype=learning_rates.dtype)
        rates = tf.linalg.matvec(learning_rates, pick, transpose_a=True)
        new = [p - tf.cast(rates[i], p.dtype) * g for i, (p, g) in enumerate(zip(params, grads))]
        return new, state + 1

    return InnerOptimizer(init, update, (learning_rates,), "per_step")


def per_step_learning_rates(num_params: int, inner_steps: int | None = None,
                            initial: float | None = None, name: str = "per_step_lr",
                            dtype: str = "float32", *, steps: int | None = None) -> Any:
    """A trainable ``[inner_steps, num_params]`` ``keras.Variable`` filled with ``initial``
    (``steps`` is the deprecated name of ``inner_steps``)."""
    import keras  # local: keeps this module importable without building Keras state
    steps = checks.renamed_keyword("per_step_learning_rates", "inner_steps", inner_steps,
                                   "steps", steps)
    if initial is None:
        raise TypeError("per_step_learning_rates() missing the argument `initial`")
    _check_positive("per_step_learning_rates", initial=initial)
    for key, value in (("num_params", num_params), ("inner_steps", steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"per_step_learning_rates: {key} must be an int >= 1, got {value!r}")
    return keras.Variable(tf.fill([steps, num_params], tf.constant(initial, dtype)),
                          dtype=dtype, name=name, trainable=True)


_BY_NAME = {"sgd": sgd, "rmsprop": rmsprop, "adam": adam}


def get(name: str, **kwargs) -> InnerOptimizer:
    """Builds an inner optimizer by name (``sgd``, ``rmsprop`` or ``adam``)."""
    if name not in _BY_NAME:
        raise ValueError(
            f"unknown inner optimizer {name!r}; expected one of {sorted(_BY_NAME)} "
            "(Meta-SGD is built with meta_sgd(learning_rates))")
    return _BY_NAME[name](**kwargs)


def per_player(inner: InnerOptimizer | Mapping[str, InnerOptimizer],
               players: Sequence[str]) -> dict[str, InnerOptimizer]:
    """Expands one optimizer to every player, or checks a per-player mapping."""
    if isinstance(inner, InnerOptimizer):
        return {p: inner for p in players}
    if not isinstance(inner, Mapping) and not hasattr(inner, "items"):  # tf.Module wraps dicts
        raise ValueError(f"inner must be an InnerOptimizer or a dict of them, got {inner!r}")
    missing = sorted(set(players) - set(inner))
    extra = sorted(set(inner) - set(players))
    if missing or extra:
        raise ValueError(
            f"inner optimizers given for players {sorted(inner)} but the players are "
            f"{sorted(players)} (missing {missing}, unknown {extra})")
    return dict(inner)
