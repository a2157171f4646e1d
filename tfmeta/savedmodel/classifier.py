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
  uses its moving averages, so each query is classified on its own. Having no
  fixed head, it answers N-way requests for any N in ``[2, max_ways]``: N is
  the support labels' largest + 1, and the adapt function reads it from them.

A state dimension named ``S`` (:mod:`tfmeta.savedmodel.state`) is the support
set's size: it must be the same in every state tensor, between N and
``max_support``; one named ``N`` (the metric family's) is the request's number
of classes, the same in every state tensor, between 2 and ``max_ways``.

Images are the preprocessed form the run trained on: float32 NHWC in
``[-1, 1]`` (Omniglot: 28x28x1, *bright strokes on dark*, i.e. scanned ink
inverted); values within ``IMAGE_TOLERANCE`` (1e-5) of it are clipped into it,
others refused. Labels are int32 in ``0..N-1``; every class must occur in the
support set (so ``S >= N``). The gradient family's N is its head's, ``ways``
(``max_ways == ways``). ``seed`` is an int32 scalar; the adapt function
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
    [{'name': 'prototypes', 'shape': ['N', 64]}]
    >>> tf.saved_model.save(module, "exports/omniglot/1", signatures=module.signatures())
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf

from tfmeta import checks
from tfmeta.savedmodel.common import (IMAGE_RANGE, IMAGE_TOLERANCE, MAX_ADAPT_STEPS,
                                      MAX_BOUND, tf_variable, Untracked, request_seeds)
from tfmeta.savedmodel.validation import (batch_checks, guard_batch, guard_labels,
                                          guard_scalar, guard_tensor, label_checks,
                                          open_label_checks, scalar_checks, validate)
from tfmeta.savedmodel.state import SUPPORT_SIZE, WAYS, state_checks, state_shapes_of

# adapt_fn(support_images [S, H, W, C], support_labels [S], int32 [2] seed) -> {name: tensor};
# the metric family's reads N from the labels (their largest + 1, every class present).
ClassifierAdaptFn = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], Mapping[str, tf.Tensor]]
# logits_fn({name: tensor}, query_images [Q, H, W, C]) -> logits [Q, N]
ClassifierLogitsFn = Callable[[Mapping[str, tf.Tensor], tf.Tensor], tf.Tensor]

FAMILIES = ("gradient", "metric")
_BATCH_NORM = {
    "gradient": "batch statistics: the support set when adapting, the whole query batch "
                "when classifying",
    "metric": "moving averages: each query is classified independently of the others"}


class ClassifierModule(tf.Module):
    """A few-shot classifier that adapts in the graph (see the module docstring).

    Args:
      adapt_fn: ``adapt_fn(support_images, support_labels, seed) -> {name: tensor}``,
        the state (the keys of ``state_shapes``).
      logits_fn: ``logits_fn(state, query_images) -> logits [Q, N]``.
      variables: everything the two functions read (weights, learned rates,
        BatchNorm state), saved as attributes of these names; a variable or a
        nest of lists and dicts of them.
      ways: N, the classifier's number of classes (the metric family: the run's N,
        one a request may have).
      image_shape: ``(H, W, C)`` of its inputs.
      state_shapes: each state tensor's shape, in the order of the ``adapt``
        outputs and ``classify`` inputs; ints, or :data:`SUPPORT_SIZE` for the
        support set's size (default: :func:`state_shapes_of`).
      family: ``"gradient"`` or ``"metric"`` (see the module docstring).
      adapt_steps: inner steps ``adapt_fn`` takes (recorded in the metadata;
        fixed in the graph by ``adapt_fn``); at least 1 for the gradient
        family, 0 for the metric one.
      max_support, max_query: largest support set / query batch of a request.
      max_ways: the metric family's largest N of a request (default:
        ``max_support``); the gradient family's is ``ways`` (None or equal).
      shots: a metric learner whose support summary grows with the shots (Relation
        sums a class's K feature maps) answers only requests of exactly this many
        images per class (None: any).

    Example:
        >>> out = module.adapt_and_classify(support, labels, queries, tf.constant(0))
        >>> out["probabilities"].shape
        TensorShape([10, 5])
    """

    def __init__(self, adapt_fn: ClassifierAdaptFn, logits_fn: ClassifierLogitsFn, *,
                 variables: Mapping[str, Any], ways: int, image_shape: Sequence[int],
                 state_shapes: Mapping[str, Sequence[int | str]] | None = None,
                 family: str = "gradient", adapt_steps: int = 0, max_support: int = 256,
                 max_query: int = 1024, max_ways: int | None = None,
                 shots: int | None = None):
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
        self.any_ways = family == "metric"
        if not self.any_ways and max_ways not in (None, self.ways):
            raise ValueError(f"max_ways applies to the metric family; a {family} classifier "
                             f"answers {self.ways}-way requests only (its head), got "
                             f"max_ways={max_ways!r}")
        self.max_ways = (checks.bounded("max_ways", max_ways, self.ways, self.max_support)
                         if self.any_ways and max_ways is not None else
                         self.max_support if self.any_ways else self.ways)
        if shots is not None and not self.any_ways:
            raise ValueError(f"shots applies to the metric family, got shots={shots!r} for a "
                             f"{family} classifier")
        self.shots = None if shots is None else checks.count("shots", shots)
        if state_shapes is None:   # after the checks: adapt_steps bounds its run time
            state_shapes = state_shapes_of(adapt_fn, self.image_shape, self.ways, self.any_ways)
        if self.any_ways and not any(WAYS in s for s in state_shapes.values()):
            raise ValueError(f"a metric classifier's state needs a dimension {WAYS!r} of the "
                             f"request's classes (adapt_fn reads N from the labels), got "
                             f"{dict(state_shapes)}")
        self.output_names = list(state_shapes)
        self.state_shapes = [[d if d in (SUPPORT_SIZE, WAYS) else int(d)
                              for d in state_shapes[n]] for n in self.output_names]
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

    def _images_checks(self, images, name: str, max_count: int, min_count: int = 1) -> list:
        return batch_checks(images, name, self.image_shape, max_count, value_range=IMAGE_RANGE,
                            min_count=min_count, tolerance=IMAGE_TOLERANCE)

    def _support_checks(self, support_images, support_labels) -> list:
        if self.any_ways:
            return (self._images_checks(support_images, "support_images", self.max_support, 2)
                    + open_label_checks(support_labels, "support_labels", self.max_ways,
                                        support_images, "support_images", shots=self.shots))
        return (self._images_checks(support_images, "support_images", self.max_support,
                                    self.ways)
                + label_checks(support_labels, "support_labels", self.ways, support_images,
                               "support_images"))

    def _guard_support(self, support_images, support_labels, ok) -> tuple:
        return (guard_batch(support_images, ok, self.image_shape, count=self.ways,
                            clip=IMAGE_RANGE), guard_labels(support_labels, ok, self.ways))

    def _guard_query(self, query_images, ok) -> tf.Tensor:
        return guard_batch(query_images, ok, self.image_shape, clip=IMAGE_RANGE)

    # -- the signatures ----------------------------------------------------------------

    def _adapt_and_classify(self, support_images, support_labels, query_images, seed):
        """Adapts on the labelled support set; ``{"probabilities" [Q, N], "labels" [Q]}``."""
        ok = validate(self._support_checks(support_images, support_labels)
                      + self._images_checks(query_images, "query_images", self.max_query)
                      + scalar_checks(seed, "seed"))
        support, labels = self._guard_support(support_images, support_labels, ok)
        query = self._guard_query(query_images, ok)
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
        ok = validate(self._images_checks(query_images, "query_images", self.max_query)
                      + state_checks(self.output_names, self.state_shapes, state, ways=self.ways,
                                     max_ways=self.max_ways, max_support=self.max_support))
        query = self._guard_query(query_images, ok)
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
        shapes, ``"S"`` for the support size, ``"N"`` for the request's classes;
        ``max_ways`` is the largest N (the gradient family: ``ways``); values within
        ``image_tolerance`` of ``image_range`` are clipped. The gradient family lists
        the state as ``weights`` too (the issue-17 key).
        """
        state = [{"name": n, "shape": s} for n, s in zip(self.output_names, self.state_shapes)]
        out = {"family": self.family, "ways": self.ways, "max_ways": self.max_ways,
               "image_shape": list(self.image_shape), "image_range": list(IMAGE_RANGE),
               "image_tolerance": IMAGE_TOLERANCE, "adapt_steps": self.adapt_steps,
               "max_support": self.max_support, "max_query": self.max_query, "state": state,
               "batch_norm": _BATCH_NORM[self.family], "signatures": sorted(self.signatures())}
        if self.shots is not None:
            out["shots"] = self.shots
        if self.family == "gradient":
            out["weights"] = state
        return out
