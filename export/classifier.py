"""Serving module of a few-shot classifier: adaptation to a labelled support set inside the graph.

:class:`ClassifierModule` holds a classifier's meta-learned weights and an
*adapt function* mapping them and a labelled support set to adapted weights;
it exposes them as ``tf.function`` signatures with fixed argument names and
declared shapes:

========================  =======================================================
signature                 inputs -> outputs
========================  =======================================================
``adapt_and_classify``    ``support_images [S, H, W, C]``, ``support_labels [S]``,
(``serving_default``)     ``query_images [Q, H, W, C]``, ``seed`` ->
                          ``probabilities [Q, N]``, ``labels [Q]`` (arg-max)
``adapt``                 ``support_images``, ``support_labels``, ``seed`` -> the
                          adapted weights, one named tensor per variable
``classify``              ``query_images`` and every weight by name (what
                          ``adapt`` returns; declared with their rank, the
                          shapes checked in the graph) -> ``probabilities``,
                          ``labels``
========================  =======================================================

Images are the preprocessed form the run trained on: float32 NHWC in
``[-1, 1]`` (Omniglot: 28x28x1, *bright strokes on dark*, i.e. scanned ink
inverted). Labels are int32 in ``0..N-1``; every class must occur in the
support set (so ``S >= N``). ``seed`` is an int32 scalar; the adapt function
gets ``export.module.request_seeds(seed)[1]`` (the adaptation stream, as in the
GAN export); the cross-entropy objective draws nothing, so the seed does not
change the result today.

BatchNorm uses the statistics of the batch it is given, as in meta-training
(transductive): the support set during adaptation, the *whole query batch*
when classifying. A query's probabilities therefore depend on the other
queries of the request; send queries together, e.g. a few per class, as the
run was evaluated.

The module knows no experiment: the export CLI builds the adapt function (for a
few-shot run, ``few_shot.adapt`` with the run's inner optimizer and
``eval_inner_steps``), traced into the graph at export time. It is stateless
(reads variables, assigns none). Requests are validated inside the graph
(:mod:`export.validation`): a bad one fails with ``InvalidArgumentError``
naming the argument, the rule and the offending shape or values.

Example:
    >>> module = ClassifierModule(model, model.trainable_variables, adapt_fn, ways=5,
    ...                           image_shape=(28, 28, 1), adapt_steps=3)
    >>> tf.saved_model.save(module, "exports/omniglot/1", signatures=module.signatures())
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import tensorflow as tf

from export.module import MAX_ADAPT_STEPS, MAX_BOUND, request_seeds, variable_names
from export.module import _tf_variable, _Untracked
from export.validation import (batch_checks, guard_batch, guard_labels, guard_scalar,
                               guard_tensor, label_checks, scalar_checks, tensor_checks,
                               validate)
from tfmeta import checks
from tfmeta.classify import logits_of

# adapt_fn(weights, support_images [S, H, W, C], support_labels [S], int32 [2] seed) -> weights
ClassifierAdaptFn = Callable[[list, tf.Tensor, tf.Tensor, tf.Tensor], Sequence[tf.Tensor]]

_IMAGE_RANGE = (-1.0, 1.0)


class ClassifierModule(tf.Module):
    """A few-shot classifier that adapts in the graph (see the module docstring).

    Args:
      model: the Keras classifier (only its architecture is used, called with
        ``training=True`` at the given weights; not saved as Keras).
      variables: its meta-learned trainable variables, in the order the adapt
        function takes them; saved as ``model_weights``, a dict by
        :func:`export.module.variable_names`.
      adapt_fn: ``adapt_fn(weights, support_images, support_labels, seed) ->
        adapted weights`` (tensors in the order of ``variables``).
      ways: N, the classifier's number of classes.
      image_shape: ``(H, W, C)`` of its inputs.
      adapt_steps: inner steps ``adapt_fn`` takes (recorded in the metadata;
        fixed in the graph by ``adapt_fn``).
      max_support, max_query: largest support set / query batch of a request.
      extra_variables: other variables ``adapt_fn`` or the model reads (learned
        inner rates, BatchNorm state), saved as attributes of these names.

    Example:
        >>> out = module.adapt_and_classify(support, labels, queries, tf.constant(0))
        >>> out["probabilities"].shape
        TensorShape([10, 5])
    """

    def __init__(self, model, variables: Sequence[Any], adapt_fn: ClassifierAdaptFn, *,
                 ways: int, image_shape: Sequence[int], adapt_steps: int,
                 max_support: int = 256, max_query: int = 1024,
                 extra_variables: dict | None = None):
        super().__init__(name="tfmeta_classifier")
        self._python = _Untracked(model=model, adapt_fn=adapt_fn)
        self.ways = checks.count("ways", ways, minimum=2)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.adapt_steps = checks.bounded("adapt_steps", adapt_steps, 1, MAX_ADAPT_STEPS,
                                          flag=True)
        self.max_support = checks.bounded("max_support", max_support, self.ways, MAX_BOUND,
                                          flag=True)
        self.max_query = checks.bounded("max_query", max_query, 1, MAX_BOUND, flag=True)
        self.output_names = variable_names(variables, getattr(model, "name", None))
        self.weight_shapes = [[int(d) for d in v.shape] for v in variables]
        # The tf.Variables behind the Keras variables, each saved once (see export.module).
        self.model_weights = {n: _tf_variable(v) for n, v in zip(self.output_names, variables)}
        for name, nest in (extra_variables or {}).items():
            setattr(self, name, tf.nest.map_structure(_tf_variable, nest))
        images = lambda name: tf.TensorSpec([None, *self.image_shape], tf.float32,  # noqa: E731
                                            name=name)
        labels = tf.TensorSpec([None], tf.int32, name="support_labels")
        seed = tf.TensorSpec([], tf.int32, name="seed")
        self._adapt = tf.function(self._adapted_weights, input_signature=[
            images("support"), tf.TensorSpec([None], tf.int32, name="labels"),
            tf.TensorSpec([], tf.int32, name="request_seed")])
        self.adapt_and_classify = tf.function(self._adapt_and_classify, input_signature=[
            images("support_images"), labels, images("query_images"), seed])
        self.adapt = tf.function(self._adapt_signature, input_signature=[
            images("support_images"), labels, seed])
        # The weights are declared with their rank only: a loaded signature called from Python
        # takes a fully declared shape on trust (export.validation), so the in-graph shape
        # check could not see a wrong one. Their shapes are the adapt outputs' (and metadata's).
        self.classify = tf.function(self._classify_signature, input_signature=[
            images("query_images"), *[tf.TensorSpec([None] * len(s), tf.float32, name=n)
                                      for n, s in zip(self.output_names, self.weight_shapes)]])

    # -- the traced math ---------------------------------------------------------------

    def _weights(self) -> list:
        """The meta-learned weights, read from the saved variables."""
        return [tf.convert_to_tensor(self.model_weights[n]) for n in self.output_names]

    def _adapted_weights(self, support, labels, seed) -> list:
        """The weights after adaptation on the labelled support set."""
        _, adapt_seed, _ = request_seeds(seed)
        return list(self._python.adapt_fn(self._weights(), support, labels, adapt_seed))

    def _predict(self, weights: list, query: tf.Tensor) -> dict:
        probabilities = tf.nn.softmax(logits_of(self._python.model, weights, query), axis=-1)
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
        weights = self._adapt(support, labels, guard_scalar(seed, ok, 0))
        return self._predict(weights, query)

    def _adapt_signature(self, support_images, support_labels, seed):
        """Adapts on the labelled support set; returns ``{variable name: adapted tensor}``."""
        ok = validate(self._support_checks(support_images, support_labels)
                      + scalar_checks(seed, "seed"))
        support, labels = self._guard_support(support_images, support_labels, ok)
        weights = self._adapt(support, labels, guard_scalar(seed, ok, 0))
        return dict(zip(self.output_names, weights))

    def _classify_signature(self, query_images, *weights):
        """``query_images`` at the given weights (e.g. from ``adapt``) -> probabilities, labels."""
        weight_checks = [c for n, s, w in zip(self.output_names, self.weight_shapes, weights)
                         for c in tensor_checks(w, n, s)]
        ok = validate(self._query_checks(query_images) + weight_checks)
        query = guard_batch(query_images, ok, self.image_shape)
        weights = [guard_tensor(w, ok, s) for w, s in zip(weights, self.weight_shapes)]
        return self._predict(weights, query)

    def signatures(self) -> dict:
        """The ``signatures`` argument of ``tf.saved_model.save``."""
        return {"serving_default": self.adapt_and_classify,
                "adapt_and_classify": self.adapt_and_classify,
                "adapt": self.adapt, "classify": self.classify}

    def metadata(self) -> dict:
        """What a client needs to know about the export (written beside it as JSON)."""
        return {"ways": self.ways, "image_shape": list(self.image_shape),
                "image_range": list(_IMAGE_RANGE), "adapt_steps": self.adapt_steps,
                "max_support": self.max_support, "max_query": self.max_query,
                "weights": [{"name": n, "shape": s}
                            for n, s in zip(self.output_names, self.weight_shapes)],
                "batch_norm": "batch statistics: the support set when adapting, the whole "
                              "query batch when classifying",
                "signatures": sorted(self.signatures())}
