"""What ``adapt`` and ``export`` of the Keras front door build: a plain model, a SavedModel.

* :func:`plain_model`: a copy of a backbone holding adapted parameters, an
  ordinary Keras model for one task;
* :func:`export_gradient`, :func:`export_metric` (ProtoNet, Baseline): a
  :class:`tfmeta.savedmodel.classifier.ClassifierModule` with the learner's own
  adaptation traced into the graph, saved with its metadata -- the signatures
  (``adapt_and_classify``, ``adapt``, ``classify``) and state names of
  ``python -m export.saved_model`` on a few-shot run.

Example:
    >>> adapted = plain_model(backbone, params)
    >>> adapted.predict(query_images)
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import tensorflow as tf
from absl import logging

from tfmeta import functional
from tfmeta.savedmodel.classifier import ClassifierModule
from tfmeta.savedmodel.common import save_module, variable_names

_TINY = 1e-30
IMAGES = ("float32 in [-1, 1] (the range the signatures accept; values within "
          "image_tolerance of it clipped)")


def _layers(model: keras.Model) -> list:
    out = []
    for layer in model.layers:
        out.append(layer)
        if isinstance(layer, keras.Model):
            out += _layers(layer)
    return out


def keras_batch_norm(model: keras.Model) -> bool:
    """Whether ``model`` has a ``keras.layers.BatchNormalization`` (moving averages, ``training``
    dependent; :class:`tfmeta.nets.layers.BatchStatNorm` always uses the batch's statistics)."""
    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in _layers(model))


def ends_in_softmax(model: keras.Model) -> bool:
    """Whether the backbone outputs probabilities (a softmax last layer) rather than logits."""
    last = model.layers[-1] if model.layers else None
    return isinstance(last, keras.layers.Softmax) or (
        getattr(last, "activation", None) is keras.activations.softmax)


def backbone_logits(backbone: keras.Model, params: list, images: tf.Tensor) -> tf.Tensor:
    """Class logits of the backbone at ``params`` (the log of a softmax backbone's outputs)."""
    outputs = functional.apply(backbone, params, images, training=True)
    if ends_in_softmax(backbone):
        return tf.math.log(tf.maximum(outputs, tf.constant(_TINY, outputs.dtype)))
    return outputs


class BatchStatistics(keras.layers.Layer):
    """Runs a model with ``training=True`` whatever the caller's mode (``predict`` passes False)."""

    def __init__(self, model: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def call(self, inputs):
        return self.model(inputs, training=True)


def plain_model(backbone: keras.Model, params: list) -> keras.Model:
    """A clone of ``backbone`` with ``params`` as its trainable weights (its other weights copied).

    A backbone with BatchNorm was meta-trained and adapted with the statistics
    of each batch (``training=True``; its moving averages never moved), so the
    clone is wrapped to run with ``training=True``: send a task's queries
    together, as in meta-training. Without BatchNorm it is the clone itself
    (``training`` as the caller says, e.g. dropout off in ``predict``).
    """
    clone = keras.models.clone_model(backbone)
    for variable, value in zip(clone.trainable_variables, params):
        variable.assign(value)
    for variable, value in zip(clone.non_trainable_variables, backbone.non_trainable_variables):
        variable.assign(value)
    if not keras_batch_norm(backbone):
        return clone
    spec = backbone.inputs[0]
    inputs = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype)
    return keras.Model(inputs, BatchStatistics(clone)(inputs), name=f"{backbone.name}_adapted")


def _save(module: ClassifierModule, filepath, metadata: dict, format: str, verbose: bool,
          extra: dict) -> None:
    if format != "tf_saved_model":
        raise ValueError(f"format must be 'tf_saved_model' (a SavedModel with "
                         f"adapt_and_classify), got {format!r}")
    if extra:
        raise ValueError(f"unknown export arguments {sorted(extra)}; expected adapt_steps, "
                         "max_support, max_query")
    path = str(filepath)
    save_module(module, path, dict(module.metadata(), kind="classifier", source="tfmeta.keras",
                                   images=IMAGES, **metadata))
    if verbose:
        logging.info("saved %s: signatures %s", path, ", ".join(sorted(module.signatures())))


def _shapes(model: keras.Model) -> tuple[list, int]:
    if not model.inputs:
        raise ValueError(f"export needs a model with a known input shape (give "
                         f"{model.name!r} a keras.Input)")
    return [int(s) for s in model.inputs[0].shape[1:]], int(model.outputs[0].shape[-1])


def export_gradient(meta: Any, filepath, *, format: str = "tf_saved_model",
                    verbose: bool = True, adapt_steps: int | None = None,
                    max_support: int = 256, max_query: int = 1024, **extra) -> None:
    """Writes a MAML / Meta-SGD / Reptile model (:mod:`tfmeta.keras.gradient`) as a SavedModel."""
    backbone = meta.backbone
    image_shape, ways = _shapes(backbone)
    inner_steps = meta.eval_inner_steps if adapt_steps is None else adapt_steps
    names = variable_names(backbone.trainable_variables, backbone.name)

    def adapt_fn(images, labels, seed):
        return dict(zip(names, meta.adapted_params(images, labels, inner_steps, seed)))

    def logits_fn(state, images):
        return backbone_logits(backbone, [state[n] for n in names], images)

    weights = backbone.trainable_variables
    module = ClassifierModule(
        adapt_fn, logits_fn, ways=ways, image_shape=image_shape, family="gradient",
        state_shapes={n: list(v.shape) for n, v in zip(names, weights)},
        variables={"model_weights": dict(zip(names, weights)),
                   "inner_learning_rates": list(meta.inner_optimizer.variables),
                   "non_trainable": list(backbone.non_trainable_variables)},
        adapt_steps=inner_steps, max_support=max_support, max_query=max_query)
    _save(module, filepath, {"algorithm": type(meta).__name__,
                             "inner_optimizer": meta.inner_optimizer.name,
                             "adapt": meta.adapt_only or "all",
                             "step": int(meta.optimizer.iterations.numpy())},
          format, verbose, extra)


def export_metric(meta: Any, filepath, adapt_fn: Callable, logits_fn: Callable, ways: int, *,
                  format: str = "tf_saved_model", verbose: bool = True,
                  max_support: int = 256, max_query: int = 1024, max_ways: int | None = None,
                  metadata: dict | None = None, **extra) -> None:
    """Writes a metric learner (:class:`tfmeta.keras.ProtoNet`, :class:`tfmeta.keras.Baseline`)
    as a SavedModel: any N-way request up to ``max_ways`` (``adapt_fn`` reads N from the
    labels). ``metadata``: the learner's own entries (default: its training ``ways``)."""
    embedding = meta.embedding
    image_shape, _ = _shapes(embedding)
    module = ClassifierModule(adapt_fn, logits_fn, ways=ways, image_shape=image_shape,
                              family="metric", max_support=max_support, max_query=max_query,
                              max_ways=max_ways,
                              variables={"embedding_variables": dict(zip(
                                  variable_names(embedding.variables, embedding.name),
                                  embedding.variables))})
    own = {"trained_ways": meta.ways} if metadata is None else metadata
    _save(module, filepath, {"algorithm": type(meta).__name__, **own,
                             "step": int(meta.optimizer.iterations.numpy())},
          format, verbose, extra)
