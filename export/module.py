"""The serving module: a meta-learned GAN whose fast adaptation runs inside the graph.

:class:`AdaptationModule` holds a run's meta-learned generator and discriminator
(and Meta-SGD's learned rates) and exposes them as ``tf.function`` signatures
with fixed argument names:

==============================  =================================================
signature                       inputs -> outputs
==============================  =================================================
``serving_default``             ``z [m, latent]`` -> ``images [m, H, W, C]`` (prior)
``adapt_and_generate``          ``support_images [n, H, W, C]``, ``num_samples``,
                                ``seed`` -> ``images [num_samples, H, W, C]``
``adapt_and_generate_from_z``   ``support_images``, ``z [m, latent]``, ``seed`` ->
                                ``images [m, H, W, C]``
``adapt``                       ``support_images``, ``seed`` -> the adapted
                                generator weights, one named tensor per variable
==============================  =================================================

Images are float32 NHWC in [-1, 1]; ``num_samples`` and ``seed`` are int32
scalars. The adaptation is tfmeta's own inner loop (:func:`tfmeta.algorithms.adapt`
with the run's objective, inner optimizers, learning rates and loss), traced into
the graph at export time, so the SavedModel holds no Python. It is stateless: the
functions read the variables and never assign one, so concurrent requests cannot
disturb each other.

The rules that make a request reproducible (shared with the tests' in-Python
reference, so both compute the same thing):

* :func:`request_seeds`: the int32 request ``seed`` becomes
  ``base = [seed, 0]`` and three streams ``stateless_fold_in(base, 0 | 1 | 2)``:
  the step batches, the adaptation (latents and gradient-penalty draws of each
  inner step, as in :func:`tfmeta.algorithms.adapt`) and the output latents
  ``z = stateless_normal([num_samples, latent_dim], latent_seed)``.
* :func:`support_batches`: each of the ``k`` inner steps uses a random subset of
  ``min(n, batch_size)`` distinct support images (``batch_size`` is the run's),
  drawn by :func:`tfmeta.eval.generation.step_batches` -- the evaluation rule,
  which it equals whenever ``n >= batch_size``. A support set smaller than the
  run's batch simply gives smaller batches (every image once per step).

Inputs are validated inside the graph (:func:`validate`): rank, shape, value
range, ``1 <= n <= max_support``, ``1 <= num_samples <= max_samples``, scalars;
a bad request fails with ``InvalidArgumentError`` naming the argument, the rule
and the offending shape or values. The computation reads the inputs only through
:func:`guard_batch` / :func:`guard_scalar`, which hand it one placeholder item
when a check failed, so a bad request never reaches an op sized by it (no
unbounded allocation, no crash) and the process keeps serving. Dtypes are fixed by
the signatures and checked by the runtime (``InvalidArgumentError``; TF Serving
answers ``INVALID_ARGUMENT``). The bounds and ``adapt_steps`` are fixed at export
time.

Example:
    >>> setup, _ = maml_gan.load_run("runs/mnist_maml")
    >>> module = AdaptationModule(setup, adapt_steps=10)
    >>> tf.saved_model.save(module, "exports/mnist/1", signatures=module.signatures())
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import tensorflow as tf

from tfmeta import functional
from tfmeta.eval.generation import step_batches
from tfmeta.experiments import maml_gan
from tfmeta.gan import generate

# Limits on the export-time bounds themselves (the step batches are drawn step by step in the
# graph; the inner steps run as one loop).
MAX_ADAPT_STEPS = 100
MAX_BOUND = 1 << 20

_BATCH_STREAM, _ADAPT_STREAM, _LATENT_STREAM = 0, 1, 2


def request_seeds(seed: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The int32 ``[2]`` seeds ``(batches, adaptation, latents)`` of a request's scalar ``seed``.

    Example:
        >>> batch_seed, adapt_seed, latent_seed = request_seeds(tf.constant(7))
    """
    seed = tf.cast(seed, tf.int32)
    base = tf.stack([seed, tf.zeros_like(seed)])
    fold = tf.random.experimental.stateless_fold_in
    return fold(base, _BATCH_STREAM), fold(base, _ADAPT_STREAM), fold(base, _LATENT_STREAM)


def support_batches(support: tf.Tensor, steps: int, batch_size: int, seed: Any) -> tf.Tensor:
    """``[steps, min(n, batch_size), H, W, C]``: each step a random subset of the support set.

    ``n`` may be dynamic (a serving request); with ``n >= batch_size`` this is
    exactly :func:`tfmeta.eval.generation.step_batches`.

    Example:
        >>> batches = support_batches(images, steps=10, batch_size=32, seed=batch_seed)
    """
    n = tf.shape(support)[0]
    size = tf.minimum(n, tf.constant(batch_size, n.dtype))
    return step_batches(support, steps, size, seed)


def variable_names(variables: Sequence[Any], model_name: str | None = None) -> list[str]:
    """Output names of the ``adapt`` signature: variable paths with ``/`` -> ``_``.

    ``"deconv1/kernel"`` (or ``"generator/deconv1/kernel"`` for ``model_name``
    ``"generator"``) -> ``"deconv1_kernel"``. Raises ValueError on a collision.
    """
    names = []
    for v in variables:
        path = getattr(v, "path", None) or v.name.split(":")[0]
        if model_name and path.startswith(model_name + "/"):
            path = path[len(model_name) + 1:]
        name = re.sub(r"[^A-Za-z0-9_]", "_", path).strip("_")
        if not name or not name[0].isalpha():
            name = "w_" + name
        names.append(name)
    if len(set(names)) != len(names):
        raise ValueError(f"variable names collide after sanitizing: {names}")
    return names


class _Untracked:
    """Holds Python objects on a ``tf.Module`` without the module tracking (saving) them."""

    def __init__(self, setup: Any):
        self.setup = setup


def _check_bound(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"--{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _assert(condition: tf.Tensor, message: str, *data: tf.Tensor) -> tf.Operation:
    """An Assert op whose data are strings or int32 (others make Assert build a ``cond``)."""
    for d in data:
        if d.dtype not in (tf.string, tf.int32):
            raise TypeError(f"assert data must be string or int32, got {d.dtype!r}")
    return tf.debugging.Assert(condition, [message, *data], summarize=8)


def validate(checks: Sequence[tuple]) -> tf.Tensor:
    """Adds one Assert per check ``(ok, message, *data)``; returns "all passed".

    Only the first failing check fires: check ``k`` asserts ``ok_k or not
    (checks before k passed)``, so the error names the first violated rule
    whatever order the runtime runs the Asserts in. Every condition must be
    computable on *any* input (no check may rely on an earlier one).

    The Asserts are stateful ops, so a ``tf.function`` (and a SavedModel
    signature) cannot return without running them; but what *follows* them must
    not rely on control dependencies alone: the function runtime specializes the
    graph on the shapes of a call's arguments, and an op that is invalid for those
    shapes fails while the graph is optimized, before any Assert runs (seen with
    TF 2.21). So the computation reads the inputs only through :func:`guard_batch`
    and :func:`guard_scalar`, which pass a valid placeholder value when a check
    failed.
    """
    passed = tf.constant(True)
    for ok, message, *data in checks:
        _assert(tf.logical_or(tf.logical_not(passed), ok), message, *data)
        passed = tf.logical_and(passed, ok)
    return passed


def scalar_checks(x: tf.Tensor, name: str, low: int | None = None,
                  high: int | None = None) -> list:
    """Checks that ``x`` is a scalar (within ``[low, high]``)."""
    checks = [(tf.equal(tf.rank(x), 0),
               f"{name} must be an int32 scalar; got a tensor of shape", tf.shape(x))]
    if low is not None:
        in_range = tf.reduce_all(tf.logical_and(x >= low, x <= high))
        checks.append((in_range, f"{name} must be in [{low}, {high}] (bound fixed at export "
                                 "time); got", x))
    return checks


def batch_checks(x: tf.Tensor, name: str, shape: Sequence[int], max_count: int,
                 value_range: tuple[float, float] | None = None) -> list:
    """Checks of rank, trailing ``shape``, ``1 <= len(x) <= max_count`` and the values."""
    shape = [int(s) for s in shape]
    rank = len(shape) + 1
    expected = "[n, " + ", ".join(map(str, shape)) + "]"
    actual = tf.shape(x)
    padded = tf.concat([actual, tf.zeros([rank], tf.int32)], 0)   # indexable at any rank
    count = padded[0]
    if value_range is None:
        values_ok = tf.reduce_all(tf.math.is_finite(x))
        values_rule = "finite"
    else:
        low, high = value_range
        values_ok = tf.reduce_all(tf.logical_and(x >= low, x <= high))   # False for NaN
        values_rule = f"finite and in [{low:g}, {high:g}]"
    return [
        (tf.equal(tf.size(actual), rank),
         f"{name} must have rank {rank}, shape {expected}; got shape", actual),
        (tf.reduce_all(tf.equal(padded[1:rank], shape)),
         f"{name} must have shape {expected}; got shape", actual),
        (tf.logical_and(count >= 1, count <= max_count),
         f"{name} must hold between 1 and {max_count} items (n; bound fixed at export "
         "time); got n =", count),
        (values_ok, f"{name} must be {values_rule}; got",
         tf.strings.format("min {}, max {}", (tf.reduce_min(x), tf.reduce_max(x)))),
    ]


def guard_batch(x: tf.Tensor, ok: tf.Tensor, shape: Sequence[int]) -> tf.Tensor:
    """``x`` if ``ok`` else one zero item; statically ``[None, *shape]``."""
    shape = [int(s) for s in shape]
    safe = tf.cond(ok, lambda: tf.identity(x), lambda: tf.zeros([1, *shape], x.dtype))
    safe.set_shape([None, *shape])
    return safe


def guard_scalar(x: tf.Tensor, ok: tf.Tensor, default: int) -> tf.Tensor:
    """``x`` if ``ok`` else ``default``; a scalar for an input of any shape."""
    first = tf.reduce_sum(tf.reshape(x, [-1])[:1])     # == x when x is a scalar
    return tf.where(ok, first, tf.constant(default, x.dtype))


class AdaptationModule(tf.Module):
    """A restored MAML-GAN run as a servable module (see the module docstring).

    Args:
      setup: a restored :class:`tfmeta.experiments.maml_gan.Setup`.
      adapt_steps: inner steps of the in-graph adaptation (fixed in the graph).
      max_samples: largest ``num_samples`` (or ``z`` batch) a request may ask for.
      max_support: largest support set a request may send.
      batch_size: images per inner step (default: the run's ``batch_size``).

    Example:
        >>> module = AdaptationModule(setup, adapt_steps=10, max_samples=1024)
        >>> images = module.adapt_and_generate(support, tf.constant(16), tf.constant(0))
    """

    def __init__(self, setup: maml_gan.Setup, *, adapt_steps: int, max_samples: int = 1024,
                 max_support: int = 256, batch_size: int | None = None):
        super().__init__(name="tfmeta_gan")
        config = setup.config
        self._run = _Untracked(setup)
        self.adapt_steps = _check_bound("adapt_steps", adapt_steps, 1, MAX_ADAPT_STEPS)
        self.max_samples = _check_bound("max_samples", max_samples, 1, MAX_BOUND)
        self.max_support = _check_bound("max_support", max_support, 1, MAX_BOUND)
        self.batch_size = _check_bound("batch_size", batch_size or config.batch_size, 1,
                                       MAX_BOUND)
        self.latent_dim = int(config.latent_dim)
        self.image_shape = tuple(int(s) for s in setup.generator.output_shape[1:])
        generator, discriminator = setup.generator, setup.discriminator
        self.output_names = variable_names(generator.trainable_variables, generator.name)
        # What is saved: the tf.Variables behind the Keras variables the functions read
        # (the Keras objects themselves are not tracked: each Keras variable would be saved
        # twice, and a TF1 loader such as the model server would restore only one copy).
        # Named, so that later TF programs can read them.
        self.generator_weights = {n: v.value for n, v in
                                  zip(self.output_names, generator.trainable_variables)}
        self.discriminator_weights = {
            n: v.value for n, v in zip(variable_names(discriminator.trainable_variables,
                                                      discriminator.name),
                                       discriminator.trainable_variables)}
        self.learning_rates = {p: [v.value for v in opt.variables]      # Meta-SGD's rates
                               for p, opt in setup.inner.items()}
        self.non_trainable = [v.value for v in (generator.non_trainable_variables
                                                + discriminator.non_trainable_variables)]
        # The adaptation, traced once and called by every adapting signature.
        self._adapt = tf.function(self._adapted_generator, input_signature=[
            tf.TensorSpec([None, *self.image_shape], tf.float32, name="support"),
            tf.TensorSpec([], tf.int32, name="seed")])

    # -- the traced math ---------------------------------------------------------------

    def _support_checks(self, support_images: tf.Tensor) -> list:
        return batch_checks(support_images, "support_images", self.image_shape,
                            self.max_support, value_range=(-1.0, 1.0))

    def _z_checks(self, z: tf.Tensor) -> list:
        return batch_checks(z, "z", [self.latent_dim], self.max_samples)

    def _adapted_generator(self, support: tf.Tensor, seed: tf.Tensor) -> list:
        """The generator's weights after ``adapt_steps`` inner steps on ``support``."""
        batch_seed, adapt_seed, _ = request_seeds(seed)
        batches = support_batches(support, self.adapt_steps, self.batch_size, batch_seed)
        params = maml_gan.params_of(self._run.setup)        # reads the variables, assigns nothing
        return maml_gan.adapted_params(self._run.setup, params, batches, adapt_seed,
                                       self.adapt_steps)["generator"]

    def _generate(self, g_params: list, z: tf.Tensor) -> dict:
        return {"images": generate(self._run.setup.generator, g_params, z)}

    # -- the signatures ----------------------------------------------------------------

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="z")])
    def serving_default(self, z):
        """``z [m, latent_dim]`` -> ``{"images": [m, H, W, C]}`` from the meta-learned prior."""
        ok = validate(self._z_checks(z))
        z = guard_batch(z, ok, [self.latent_dim])
        return self._generate(functional.params_of(self._run.setup.generator), z)

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="support_images"),
                                  tf.TensorSpec(None, tf.int32, name="num_samples"),
                                  tf.TensorSpec(None, tf.int32, name="seed")])
    def adapt_and_generate(self, support_images, num_samples, seed):
        """Adapts on ``support_images`` and returns ``{"images": [num_samples, H, W, C]}``."""
        ok = validate(self._support_checks(support_images)
                      + scalar_checks(num_samples, "num_samples", 1, self.max_samples)
                      + scalar_checks(seed, "seed"))
        support = guard_batch(support_images, ok, self.image_shape)
        num_samples, seed = guard_scalar(num_samples, ok, 1), guard_scalar(seed, ok, 0)
        g_params = self._adapt(support, seed)
        z = tf.random.stateless_normal([num_samples, self.latent_dim], request_seeds(seed)[2])
        return self._generate(g_params, z)

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="support_images"),
                                  tf.TensorSpec(None, tf.float32, name="z"),
                                  tf.TensorSpec(None, tf.int32, name="seed")])
    def adapt_and_generate_from_z(self, support_images, z, seed):
        """Adapts on ``support_images`` and returns ``{"images": G_adapted(z)}``."""
        ok = validate(self._support_checks(support_images) + self._z_checks(z)
                      + scalar_checks(seed, "seed"))
        support = guard_batch(support_images, ok, self.image_shape)
        z = guard_batch(z, ok, [self.latent_dim])
        seed = guard_scalar(seed, ok, 0)
        return self._generate(self._adapt(support, seed), z)

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="support_images"),
                                  tf.TensorSpec(None, tf.int32, name="seed")])
    def adapt(self, support_images, seed):
        """Adapts on ``support_images``; returns ``{variable name: adapted tensor}``."""
        ok = validate(self._support_checks(support_images) + scalar_checks(seed, "seed"))
        support = guard_batch(support_images, ok, self.image_shape)
        seed = guard_scalar(seed, ok, 0)
        return dict(zip(self.output_names, self._adapt(support, seed)))

    def signatures(self) -> dict:
        """The ``signatures`` argument of ``tf.saved_model.save``."""
        return {"serving_default": self.serving_default,
                "adapt_and_generate": self.adapt_and_generate,
                "adapt_and_generate_from_z": self.adapt_and_generate_from_z,
                "adapt": self.adapt}

    def metadata(self) -> dict:
        """What a client needs to know about the export (written beside it as JSON)."""
        config = self._run.setup.config
        return {"image_shape": list(self.image_shape), "latent_dim": self.latent_dim,
                "adapt_steps": self.adapt_steps, "step_batch_size": self.batch_size,
                "max_samples": self.max_samples, "max_support": self.max_support,
                "algorithm": config.algorithm, "loss": config.loss,
                "inner_optimizer": setup_inner_name(self._run.setup),
                "generator_outputs": self.output_names,
                "signatures": sorted(self.signatures())}


def setup_inner_name(setup: maml_gan.Setup) -> str:
    """The name of the run's inner optimizer (``meta_sgd`` for Meta-SGD)."""
    return setup.inner["generator"].name


class GeneratorModule(tf.Module):
    """A plain generator SavedModel: fixed weights, ``serving_default(z) -> {"images"}``.

    The weights (e.g. adapted on a user's images) are new variables named like the
    ``adapt`` signature's outputs; ``generator`` is only the architecture, whose
    own variables are not read or saved.

    Example:
        >>> module = GeneratorModule(setup.generator, adapted_params, max_samples=1024)
    """

    def __init__(self, generator, params: Sequence[tf.Tensor], *, max_samples: int = 1024):
        super().__init__(name="tfmeta_generator")
        functional.check_params(generator, params)
        names = variable_names(generator.trainable_variables, generator.name)
        self.generator_weights = {n: tf.Variable(p, name=n, trainable=False)
                                  for n, p in zip(names, params)}
        self.max_samples = _check_bound("max_samples", max_samples, 1, MAX_BOUND)
        latent_dim = int(generator.input_shape[-1])
        architecture = [generator]   # a list attribute of a closure: not tracked, not saved

        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="z")])
        def serving_default(z):
            z = guard_batch(z, validate(batch_checks(z, "z", [latent_dim], self.max_samples)),
                            [latent_dim])
            weights = [tf.convert_to_tensor(self.generator_weights[n]) for n in names]
            return {"images": generate(architecture[0], weights, z)}

        self.serving_default = serving_default

    def signatures(self) -> dict:
        """The ``signatures`` argument of ``tf.saved_model.save``."""
        return {"serving_default": self.serving_default}
