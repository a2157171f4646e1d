"""Serving module of a few-shot classifier: adaptation to a labelled support set inside the graph.

:class:`ClassifierModule` holds a classifier's saved variables, an *adapt
function* mapping a labelled support set to a named *state* and a *logits
function* scoring query images against that state; it exposes them as
``tf.function`` signatures with fixed argument names and declared shapes:

========================  =======================================================
signature                 inputs -> outputs
========================  =======================================================
``adapt_and_classify``    ``support_images [S, H, W, C]``, ``support_labels [S]``,
(``serving_default``)     ``query_images [Q, H, W, C]``, ``seed`` ->
                          ``probabilities [Q, N]``, ``labels [Q]`` (arg-max)
``adapt``                 ``support_images``, ``support_labels``, ``seed`` -> the
                          state, one named tensor per entry
``classify``              ``query_images`` and every state tensor by name (what
                          ``adapt`` returns; declared with their rank, the
                          shapes checked in the graph) -> ``probabilities``,
                          ``labels``
========================  =======================================================

Two families share these signatures, so a client of ``adapt_and_classify``
cannot tell them apart (the metadata's ``family`` says which it is):

* ``"gradient"`` (MAML, Meta-SGD, ...): the state is the classifier's weights
  after ``adapt_steps`` inner steps on the support set (``conv0_kernel`` ...
  ``head_bias``; MeGAN: the N+1-way classifier, adapted beside its generator,
  whose probabilities are over the N class columns). BatchNorm uses the
  statistics of the batch it is given, as in meta-training (transductive): the
  support set during adaptation, the *whole query batch* when classifying, so a
  query's probabilities depend on the other queries of the request; send
  queries together.
* ``"metric"`` (Prototypical, Matching, Relation, Siamese networks): the state
  summarizes the embedded support set (``prototypes [N, D]``;
  ``support_embeddings [S, D]`` with ``support_one_hot [S, N]``;
  ``class_features [N, h, w, c]``); no steps (``adapt_steps`` 0). BatchNorm
  uses its moving averages, so each query is classified on its own.

A state dimension named ``S`` (:data:`SUPPORT_SIZE`) is the support set's size:
it must be the same in every state tensor, between N and ``max_support``.

Images are the preprocessed form the run trained on: float32 NHWC in
``[-1, 1]`` (Omniglot: 28x28x1, *bright strokes on dark*, i.e. scanned ink
inverted). Labels are int32 in ``0..N-1``; every class must occur in the
support set (so ``S >= N``). ``seed`` is an int32 scalar; the adapt function
gets ``tfmeta.savedmodel.common.request_seeds(seed)[1]`` (the adaptation stream, as in the
GAN export). The metric family and MAML and kin draw nothing from it (the seed
does not change their result); MeGAN's generator draws its noise from it, so a
MeGAN export's probabilities depend on ``seed`` (the same seed, the same answer).

The module knows no experiment: the export CLI builds the two functions (for a
few-shot run, ``few_shot.adapt`` and ``few_shot.logits``), traced into the
graph at export time. It is stateless (reads variables, assigns none).
Requests are validated inside the graph (:mod:`tfmeta.savedmodel.validation`): a bad one
fails with ``InvalidArgumentError`` naming the argument, the rule and the
offending shape or values.

Example:
    >>> module = ClassifierModule(adapt_fn, logits_fn, variables={"embedding_variables": named},
    ...                           ways=5, image_shape=(28, 28, 1), family="metric")
    >>> module.metadata()["state"]
    [{'name': 'prototypes', 'shape': [5, 64]}]
    >>> tf.saved_model.save(module, "exports/omniglot/1", signatures=module.signatures())
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfmeta import checks
from tfmeta.savedmodel.common import (MAX_ADAPT_STEPS, MAX_BOUND, tf_variable, Untracked,
                                      request_seeds)
from tfmeta.savedmodel.validation import (batch_checks, guard_batch, guard_labels,
                                          guard_scalar, guard_tensor, label_checks,
                                          runtime_dim, scalar_checks, tensor_checks,
                                          validate)

# adapt_fn(support_images [S, H, W, C], support_labels [S], int32 [2] seed) -> {name: tensor}
ClassifierAdaptFn = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], Mapping[str, tf.Tensor]]
# logits_fn({name: tensor}, query_images [Q, H, W, C]) -> logits [Q, N]
ClassifierLogitsFn = Callable[[Mapping[str, tf.Tensor], tf.Tensor], tf.Tensor]

SUPPORT_SIZE = "S"
FAMILIES = ("gradient", "metric")
_IMAGE_RANGE = (-1.0, 1.0)
_BATCH_NORM = {
    "gradient": "batch statistics: the support set when adapting, the whole query batch "
                "when classifying",
    "metric": "moving averages: each query is classified independently of the others"}


def state_shapes_of(adapt_fn: ClassifierAdaptFn, image_shape: Sequence[int],
                    ways: int) -> dict[str, list]:
    """The shapes of ``adapt_fn``'s state, a dimension that follows the support size as ``S``.

    Calls ``adapt_fn`` eagerly on two zero support sets (``ways`` and ``ways + 1``
    images, every class present) and compares the shapes of its outputs.
    """
    shapes = []
    for size in (ways, ways + 1):
        images = tf.zeros([size, *image_shape], tf.float32)
        labels = tf.constant(np.arange(size) % ways, tf.int32)
        state = adapt_fn(images, labels, tf.zeros([2], tf.int32))
        shapes.append({n: [int(d) for d in t.shape] for n, t in state.items()})
    return {n: [a if a == b else SUPPORT_SIZE for a, b in zip(s, shapes[1][n])]
            for n, s in shapes[0].items()}


class ClassifierModule(tf.Module):
    """A few-shot classifier that adapts in the graph (see the module docstring).

    Args:
      adapt_fn: ``adapt_fn(support_images, support_labels, seed) -> {name: tensor}``,
        the state (the keys of ``state_shapes``).
      logits_fn: ``logits_fn(state, query_images) -> logits [Q, N]``.
      variables: everything the two functions read (weights, learned rates,
        BatchNorm state), saved as attributes of these names; a variable or a
        nest of lists and dicts of them.
      ways: N, the classifier's number of classes.
      image_shape: ``(H, W, C)`` of its inputs.
      state_shapes: each state tensor's shape, in the order of the ``adapt``
        outputs and ``classify`` inputs; ints, or :data:`SUPPORT_SIZE` for the
        support set's size (default: :func:`state_shapes_of`).
      family: ``"gradient"`` or ``"metric"`` (see the module docstring).
      adapt_steps: inner steps ``adapt_fn`` takes (recorded in the metadata;
        fixed in the graph by ``adapt_fn``); at least 1 for the gradient
        family, 0 for the metric one.
      max_support, max_query: largest support set / query batch of a request.

    Example:
        >>> out = module.adapt_and_classify(support, labels, queries, tf.constant(0))
        >>> out["probabilities"].shape
        TensorShape([10, 5])
    """

    def __init__(self, adapt_fn: ClassifierAdaptFn, logits_fn: ClassifierLogitsFn, *,
                 variables: Mapping[str, Any], ways: int, image_shape: Sequence[int],
                 state_shapes: Mapping[str, Sequence[int | str]] | None = None,
                 family: str = "gradient", adapt_steps: int = 0, max_support: int = 256,
                 max_query: int = 1024):
        super().__init__(name="tfmeta_classifier")
        self._python = Untracked(adapt_fn=adapt_fn, logits_fn=logits_fn)
        self.family = checks.one_of("family", family, FAMILIES)
        self.ways = checks.count("ways", ways, minimum=2)
        self.image_shape = tuple(int(s) for s in image_shape)
        if family == "metric" and adapt_steps != 0:
            raise ValueError(f"adapt_steps must be 0 for a metric classifier (it takes no "
                             f"steps), got {adapt_steps!r}")
        self.adapt_steps = (checks.bounded("adapt_steps", adapt_steps, 1, MAX_ADAPT_STEPS)
                            if family == "gradient" else 0)
        self.max_support = checks.bounded("max_support", max_support, self.ways, MAX_BOUND)
        self.max_query = checks.bounded("max_query", max_query, 1, MAX_BOUND)
        if state_shapes is None:   # after the checks: adapt_steps bounds its run time
            state_shapes = state_shapes_of(adapt_fn, self.image_shape, self.ways)
        self.output_names = list(state_shapes)
        self.state_shapes = [[d if d == SUPPORT_SIZE else int(d) for d in state_shapes[n]]
                             for n in self.output_names]
        # The tf.Variables behind the Keras variables, each saved once (see tfmeta.savedmodel.common).
        for name, nest in variables.items():
            setattr(self, name, tf.nest.map_structure(tf_variable, nest))
        images = lambda name: tf.TensorSpec([None, *self.image_shape], tf.float32,  # noqa: E731
                                            name=name)
        labels = tf.TensorSpec([None], tf.int32, name="support_labels")
        seed = tf.TensorSpec([], tf.int32, name="seed")
        self._adapt = tf.function(self._adapted_state, input_signature=[
            images("support"), tf.TensorSpec([None], tf.int32, name="labels"),
            tf.TensorSpec([], tf.int32, name="request_seed")])
        self.adapt_and_classify = tf.function(self._adapt_and_classify, input_signature=[
            images("support_images"), labels, images("query_images"), seed])
        self.adapt = tf.function(self._adapt_signature, input_signature=[
            images("support_images"), labels, seed])
        # The state is declared with its rank only: a loaded signature called from Python
        # takes a fully declared shape on trust (tfmeta.savedmodel.validation), so the in-graph shape
        # check could not see a wrong one. Its shapes are the adapt outputs' (and metadata's).
        self.classify = tf.function(self._classify_signature, input_signature=[
            images("query_images"), *[tf.TensorSpec([None] * len(s), tf.float32, name=n)
                                      for n, s in zip(self.output_names, self.state_shapes)]])

    # -- the traced math ---------------------------------------------------------------

    def _adapted_state(self, support, labels, seed) -> list:
        """The state of the labelled support set, in the order of ``output_names``."""
        _, adapt_seed, _ = request_seeds(seed)
        state = self._python.adapt_fn(support, labels, adapt_seed)
        return [state[n] for n in self.output_names]

    def _predict(self, state: list, query: tf.Tensor) -> dict:
        logits = self._python.logits_fn(dict(zip(self.output_names, state)), query)
        probabilities = tf.nn.softmax(logits, axis=-1)
        return {"probabilities": probabilities,
                "labels": tf.argmax(probabilities, axis=-1, output_type=tf.int32)}

    def _support_checks(self, support_images, support_labels) -> list:
        return (batch_checks(support_images, "support_images", self.image_shape,
                             self.max_support, value_range=_IMAGE_RANGE, min_count=self.ways)
                + label_checks(support_labels, "support_labels", self.ways, support_images,
                               "support_images"))

    def _query_checks(self, query_images) -> list:
        return batch_checks(query_images, "query_images", self.image_shape, self.max_query,
                            value_range=_IMAGE_RANGE)

    def _state_checks(self, state: Sequence[tf.Tensor]) -> list:
        """Each tensor's shape; ``S`` read from the first tensor that has it, then bounded."""
        found, sizes = [], {}
        for name, shape, x in zip(self.output_names, self.state_shapes, state):
            if SUPPORT_SIZE in shape and not sizes:
                sizes[SUPPORT_SIZE] = runtime_dim(x, shape.index(SUPPORT_SIZE))
                found += tensor_checks(x, name, shape, sizes)
                found.append((tf.logical_and(sizes[SUPPORT_SIZE] >= self.ways,
                                             sizes[SUPPORT_SIZE] <= self.max_support),
                              f"{name} must hold between {self.ways} and {self.max_support} "
                              f"support items ({SUPPORT_SIZE}; bound fixed at export time); "
                              f"got {SUPPORT_SIZE} =", sizes[SUPPORT_SIZE]))
            else:
                found += tensor_checks(x, name, shape, sizes)
        return found

    def _guard_support(self, support_images, support_labels, ok) -> tuple:
        return (guard_batch(support_images, ok, self.image_shape, count=self.ways),
                guard_labels(support_labels, ok, self.ways))

    # -- the signatures ----------------------------------------------------------------

    def _adapt_and_classify(self, support_images, support_labels, query_images, seed):
        """Adapts on the labelled support set; ``{"probabilities" [Q, N], "labels" [Q]}``."""
        ok = validate(self._support_checks(support_images, support_labels)
                      + self._query_checks(query_images) + scalar_checks(seed, "seed"))
        support, labels = self._guard_support(support_images, support_labels, ok)
        query = guard_batch(query_images, ok, self.image_shape)
        return self._predict(self._adapt(support, labels, guard_scalar(seed, ok, 0)), query)

    def _adapt_signature(self, support_images, support_labels, seed):
        """Adapts on the labelled support set; returns ``{state name: tensor}``."""
        ok = validate(self._support_checks(support_images, support_labels)
                      + scalar_checks(seed, "seed"))
        support, labels = self._guard_support(support_images, support_labels, ok)
        return dict(zip(self.output_names,
                        self._adapt(support, labels, guard_scalar(seed, ok, 0))))

    def _classify_signature(self, query_images, *state):
        """``query_images`` against the given state (e.g. ``adapt``'s) -> probabilities, labels."""
        ok = validate(self._query_checks(query_images) + self._state_checks(state))
        query = guard_batch(query_images, ok, self.image_shape)
        state = [guard_tensor(x, ok, s, fill=self.ways)
                 for x, s in zip(state, self.state_shapes)]
        return self._predict(state, query)

    def signatures(self) -> dict:
        """The ``signatures`` argument of ``tf.saved_model.save``."""
        return {"serving_default": self.adapt_and_classify,
                "adapt_and_classify": self.adapt_and_classify,
                "adapt": self.adapt, "classify": self.classify}

    def metadata(self) -> dict:
        """What a client needs to know about the export (written beside it as JSON).

        ``state`` lists the ``adapt`` outputs (``classify`` inputs) and their
        shapes, ``"S"`` for the support size; the gradient family lists them as
        ``weights`` too (the issue-17 key).
        """
        state = [{"name": n, "shape": s} for n, s in zip(self.output_names, self.state_shapes)]
        out = {"family": self.family, "ways": self.ways, "image_shape": list(self.image_shape),
               "image_range": list(_IMAGE_RANGE), "adapt_steps": self.adapt_steps,
               "max_support": self.max_support, "max_query": self.max_query, "state": state,
               "batch_norm": _BATCH_NORM[self.family], "signatures": sorted(self.signatures())}
        if self.family == "gradient":
            out["weights"] = state
        return out
