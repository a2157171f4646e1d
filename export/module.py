"""Serving modules: a generator whose fast adaptation runs inside the graph, and a frozen one.

:class:`AdaptationModule` holds meta-learned weights (one group of variables per
player) and an *adapt function* that maps them and a request's step batches to
adapted weights; it exposes them as ``tf.function`` signatures with fixed
argument names and declared shapes:

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

Images are float32 NHWC in [-1, 1] (values within ``IMAGE_TOLERANCE``, 1e-5, of
it are clipped into it; others refused); ``num_samples`` and ``seed`` are int32
scalars. The module knows no experiment: the export CLI builds the adapt function
(for a MAML-GAN run, ``maml_gan.adapted_params``: tfmeta's own inner loop with
the run's objective, inner optimizers and learning rates); it is traced into the
graph at export time, so the SavedModel holds no Python. It is stateless: the
functions read the variables and never assign one, so concurrent requests cannot
disturb each other.

The rules that make a request reproducible (shared with the tests' in-Python
reference, so both compute the same thing):

* :func:`request_seeds`: the int32 request ``seed`` becomes
  ``base = [seed, 0]`` and three streams ``stateless_fold_in(base, 0 | 1 | 2)``:
  the step batches, the adaptation (the adapt function's seed) and the output
  latents ``z = stateless_normal([num_samples, latent_dim], latent_seed)``.
* :func:`support_batches`: each of the ``k`` inner steps uses a random subset of
  ``min(n, batch_size)`` distinct support images, drawn by
  :func:`tfmeta.data.support.step_batches` -- the evaluation rule, which it
  equals whenever ``n >= batch_size``.

Requests are validated inside the graph (:mod:`tfmeta.savedmodel.validation`): a bad one
fails with ``InvalidArgumentError`` naming the argument, the rule and the
offending shape or values, and never reaches an op sized by it. The bounds and
``adapt_steps`` are fixed at export time.

Example:
    >>> module = AdaptationModule(generator, {"generator": g_vars, "discriminator": d_vars},
    ...                           adapt_fn, latent_dim=100, image_shape=(28, 28, 1),
    ...                           batch_size=32, adapt_steps=10)
    >>> tf.saved_model.save(module, "exports/mnist/1", signatures=module.signatures())
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf

from tfmeta import checks, functional
from tfmeta.data.support import step_batches
from tfmeta.gan import generate
from tfmeta.savedmodel.common import (IMAGE_RANGE, IMAGE_TOLERANCE, MAX_ADAPT_STEPS,
                                      MAX_BOUND, tf_variable, Untracked, request_seeds,
                                      variable_names)
from tfmeta.savedmodel.validation import (batch_checks, guard_batch, guard_scalar,
                                          scalar_checks, validate)

# adapt_fn(params by player, step batches [k, B, H, W, C], int32 [2] seed) -> params by player
AdaptFn = Callable[[dict, tf.Tensor, tf.Tensor], Mapping[str, Sequence[tf.Tensor]]]


def support_batches(support: tf.Tensor, steps: int, batch_size: int, seed: Any) -> tf.Tensor:
    """``[steps, min(n, batch_size), H, W, C]``: each step a random subset of the support set.

    ``n`` may be dynamic (a serving request); with ``n >= batch_size`` this is
    exactly :func:`tfmeta.data.support.step_batches`.

    Example:
        >>> batches = support_batches(images, steps=10, batch_size=32, seed=batch_seed)
    """
    n = tf.shape(support)[0]
    size = tf.minimum(n, tf.constant(batch_size, n.dtype))
    return step_batches(support, steps, size, seed)


class AdaptationModule(tf.Module):
    """Meta-learned weights and an adapt function as a servable module (see the module docstring).

    Args:
      generator: the Keras generator (only its architecture is used; the weights
        come from ``variables_by_player["generator"]``; not saved as Keras).
      variables_by_player: the meta-learned variables of each player, in the
        order the adapt function takes them; ``"generator"`` is required. Saved
        as ``<player>_weights``, a dict by :func:`variable_names`.
      adapt_fn: ``adapt_fn(params, batches, seed) -> adapted params``: ``params``
        maps each player to its weights (tensors read from the variables),
        ``batches`` is ``[adapt_steps, B, H, W, C]``, ``seed`` int32 ``[2]``; the
        result maps at least ``"generator"`` to its adapted weights.
      latent_dim, image_shape: the generator's input size and output ``(H, W, C)``.
      batch_size: images per inner step (a smaller support set gives smaller batches).
      adapt_steps: inner steps of the in-graph adaptation (fixed in the graph).
      max_samples: largest ``num_samples`` (or ``z`` batch) a request may ask for.
      max_support: largest support set a request may send.
      extra_variables: other variables ``adapt_fn`` or the generator reads (e.g.
        Meta-SGD's learned rates, non-trainable state), saved as attributes of
        these names; nests of lists and dicts.

    Example:
        >>> images = module.adapt_and_generate(support, tf.constant(16), tf.constant(0))
    """

    def __init__(self, generator, variables_by_player: Mapping[str, Sequence[Any]],
                 adapt_fn: AdaptFn, *, latent_dim: int, image_shape: Sequence[int],
                 batch_size: int, adapt_steps: int, max_samples: int = 1024,
                 max_support: int = 256, extra_variables: Mapping[str, Any] | None = None):
        super().__init__(name="tfmeta_gan")
        if "generator" not in variables_by_player:
            raise ValueError(f"variables_by_player needs a 'generator' entry, got "
                             f"{sorted(variables_by_player)}")
        self._python = Untracked(generator=generator, adapt_fn=adapt_fn)
        self.adapt_steps = checks.bounded("adapt_steps", adapt_steps, 1, MAX_ADAPT_STEPS)
        self.max_samples = checks.bounded("max_samples", max_samples, 1, MAX_BOUND)
        self.max_support = checks.bounded("max_support", max_support, 1, MAX_BOUND)
        self.batch_size = checks.bounded("batch_size", batch_size, 1, MAX_BOUND)
        self.latent_dim = checks.count("latent_dim", latent_dim)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.players = list(variables_by_player)
        self._names = {p: variable_names(v, p) for p, v in variables_by_player.items()}
        self.output_names = self._names["generator"]
        # What is saved: the tf.Variables behind the Keras variables, named, so that later
        # TF programs can read them (each Keras variable tracked as well would be saved twice,
        # and a TF1 loader such as the model server would restore only one copy).
        for player, variables in variables_by_player.items():
            setattr(self, f"{player}_weights",
                    {n: tf_variable(v) for n, v in zip(self._names[player], variables)})
        for name, nest in (extra_variables or {}).items():
            setattr(self, name, tf.nest.map_structure(tf_variable, nest))
        support = tf.TensorSpec([None, *self.image_shape], tf.float32, name="support_images")
        z = tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")
        scalar = lambda name: tf.TensorSpec([], tf.int32, name=name)   # noqa: E731
        # The adaptation, traced once and called by every adapting signature.
        self._adapt = tf.function(self._adapted_generator, input_signature=[
            tf.TensorSpec([None, *self.image_shape], tf.float32, name="support"),
            scalar("seed")])
        self.serving_default = tf.function(self._serving_default, input_signature=[z])
        self.adapt_and_generate = tf.function(self._adapt_and_generate, input_signature=[
            support, scalar("num_samples"), scalar("seed")])
        self.adapt_and_generate_from_z = tf.function(self._adapt_and_generate_from_z,
                                                     input_signature=[support, z, scalar("seed")])
        self.adapt = tf.function(self._adapt_signature, input_signature=[support, scalar("seed")])

    # -- the traced math ---------------------------------------------------------------

    def _params(self) -> dict:
        """Each player's meta-learned weights, read from the saved variables."""
        return {p: [tf.convert_to_tensor(getattr(self, f"{p}_weights")[n])
                    for n in self._names[p]] for p in self.players}

    def _support_checks(self, support_images: tf.Tensor) -> list:
        return batch_checks(support_images, "support_images", self.image_shape,
                            self.max_support, value_range=IMAGE_RANGE, tolerance=IMAGE_TOLERANCE)

    def _z_checks(self, z: tf.Tensor) -> list:
        return batch_checks(z, "z", [self.latent_dim], self.max_samples)

    def _adapted_generator(self, support: tf.Tensor, seed: tf.Tensor) -> list:
        """The generator's weights after ``adapt_steps`` inner steps on ``support``."""
        batch_seed, adapt_seed, _ = request_seeds(seed)
        batches = support_batches(support, self.adapt_steps, self.batch_size, batch_seed)
        return list(self._python.adapt_fn(self._params(), batches, adapt_seed)["generator"])

    def _generate(self, g_params: list, z: tf.Tensor) -> dict:
        return {"images": generate(self._python.generator, g_params, z)}

    # -- the signatures ----------------------------------------------------------------

    def _serving_default(self, z):
        """``z [m, latent_dim]`` -> ``{"images": [m, H, W, C]}`` from the meta-learned prior."""
        z = guard_batch(z, validate(self._z_checks(z)), [self.latent_dim])
        return self._generate(self._params()["generator"], z)

    def _adapt_and_generate(self, support_images, num_samples, seed):
        """Adapts on ``support_images`` and returns ``{"images": [num_samples, H, W, C]}``."""
        ok = validate(self._support_checks(support_images)
                      + scalar_checks(num_samples, "num_samples", 1, self.max_samples)
                      + scalar_checks(seed, "seed"))
        support = guard_batch(support_images, ok, self.image_shape, clip=IMAGE_RANGE)
        num_samples, seed = guard_scalar(num_samples, ok, 1), guard_scalar(seed, ok, 0)
        g_params = self._adapt(support, seed)
        z = tf.random.stateless_normal([num_samples, self.latent_dim], request_seeds(seed)[2])
        return self._generate(g_params, z)

    def _adapt_and_generate_from_z(self, support_images, z, seed):
        """Adapts on ``support_images`` and returns ``{"images": G_adapted(z)}``."""
        ok = validate(self._support_checks(support_images) + self._z_checks(z)
                      + scalar_checks(seed, "seed"))
        support = guard_batch(support_images, ok, self.image_shape, clip=IMAGE_RANGE)
        z = guard_batch(z, ok, [self.latent_dim])
        seed = guard_scalar(seed, ok, 0)
        return self._generate(self._adapt(support, seed), z)

    def _adapt_signature(self, support_images, seed):
        """Adapts on ``support_images``; returns ``{variable name: adapted tensor}``."""
        ok = validate(self._support_checks(support_images) + scalar_checks(seed, "seed"))
        support = guard_batch(support_images, ok, self.image_shape, clip=IMAGE_RANGE)
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
        return {"image_shape": list(self.image_shape), "image_range": list(IMAGE_RANGE),
                "image_tolerance": IMAGE_TOLERANCE, "latent_dim": self.latent_dim,
                "adapt_steps": self.adapt_steps, "step_batch_size": self.batch_size,
                "max_samples": self.max_samples, "max_support": self.max_support,
                "generator_outputs": self.output_names,
                "signatures": sorted(self.signatures())}


class GeneratorModule(tf.Module):
    """A plain generator SavedModel: fixed weights, ``serving_default(z) -> {"images"}``.

    The weights (e.g. adapted on a user's images) are new variables named like the
    ``adapt`` signature's outputs; ``generator`` is only the architecture, whose
    own variables are not read or saved.

    Example:
        >>> module = GeneratorModule(generator, adapted_params, max_samples=1024)
    """

    def __init__(self, generator, params: Sequence[tf.Tensor], *, max_samples: int = 1024):
        super().__init__(name="tfmeta_generator")
        functional.check_params(generator, params)
        names = variable_names(generator.trainable_variables, generator.name)
        self.generator_weights = {n: tf.Variable(p, name=n, trainable=False)
                                  for n, p in zip(names, params)}
        self.max_samples = checks.bounded("max_samples", max_samples, 1, MAX_BOUND)
        latent_dim = int(generator.input_shape[-1])
        architecture = [generator]   # a list attribute of a closure: not tracked, not saved

        @tf.function(input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name="z")])
        def serving_default(z):
            z = guard_batch(z, validate(batch_checks(z, "z", [latent_dim], self.max_samples)),
                            [latent_dim])
            weights = [tf.convert_to_tensor(self.generator_weights[n]) for n in names]
            return {"images": generate(architecture[0], weights, z)}

        self.serving_default = serving_default

    def signatures(self) -> dict:
        """The ``signatures`` argument of ``tf.saved_model.save``."""
        return {"serving_default": self.serving_default}
