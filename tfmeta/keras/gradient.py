"""Gradient-based meta-learners as Keras models: MAML (and FOMAML), Meta-SGD and Reptile.

Each wraps a Keras classifier, the *backbone* (Sequential or functional,
images to class scores), as a ``keras.Model`` whose

* ``train_step`` is one meta-update of the engine the trainers use:
  :meth:`tfmeta.algorithms.MetaLearner.mean_gradients` over the meta-batch's
  episodes and :meth:`~tfmeta.algorithms.MetaLearner.apply_gradients` with the
  compiled optimizer as the outer one (no second implementation of any
  algorithm). Under a ``tf.distribute`` strategy Keras gives each replica its
  share of the episodes and the optimizer sums the replicas' gradients
  (:func:`tfmeta.distribute.keras_replica_share`);
* ``test_step`` adapts to each episode's support set
  (:func:`tfmeta.algorithms.adaptation_trajectory`, ``inner_steps`` steps) and scores its
  queries with the compiled loss and metrics.

``adapt_only="head"`` is ANIL (:mod:`tfmeta.algorithms.selection`) in all of them.

The compiled loss is both the inner loss on the support set and the meta-loss
on the queries; it is applied per example and averaged here (a Keras ``Loss``
object's own reduction would divide by the number of replicas). The backbone
runs with ``training=True`` throughout, as in meta-training: BatchNorm uses the
statistics of the batch it is given (transductive, as MAML).

Example:
    >>> meta = MAML(backbone, inner_steps=1, inner_learning_rate=0.4)
    >>> meta.compile(optimizer=keras.optimizers.Adam(1e-3),
    ...              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...              metrics=["accuracy"])
    >>> meta.fit(episodes(sampler, start=meta.optimizer.iterations), epochs=3,
    ...          steps_per_epoch=100)
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import tensorflow as tf

from tfmeta import checks, functional
from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner, whole_episodes
from tfmeta.algorithms import adaptation_trajectory, selection
from tfmeta.distribute import keras_replica_share
from tfmeta.keras import exporting
from tfmeta.keras.base import FrontDoor, Engine, per_example
from tfmeta.types import Reused, Task

PLAYER = "model"
STEP_WEIGHTS = ("final", "uniform", "annealed")
ADAPT_ONLY = (None, "head")


class GradientMetaLearner(FrontDoor, keras.Model):
    """What MAML, Meta-SGD and Reptile share (see the module docstring).

    Args:
      backbone: a built Keras model from images to class scores; its trainable
        variables are the meta-learned initialization.
      inner_steps: k, inner steps on the support set (training and evaluation).
      inner_learning_rate: the inner SGD rate (Meta-SGD: the rates' initial value).
      step_weights: ``"final"`` (the query loss after k steps, as MAML) or
        ``"uniform"`` / ``"annealed"`` (MAML++'s multi-step loss; the annealing
        follows the optimizer's iterations over ``anneal_steps``).
      anneal_steps: meta-updates of the ``annealed`` schedule.
      eval_inner_steps: inner steps of ``evaluate``, ``adapt`` and ``export``
        (default: ``inner_steps``; the experiments' `eval_inner_steps` field).
      adapt_only: None (the inner steps adapt every weight) or ``"head"`` (ANIL: only
        the backbone's last layer with weights; not Reptile).
    """

    engine_algorithm = "maml"

    def __init__(self, backbone: keras.Model, inner_steps: int = 1,
                 inner_learning_rate: float = 0.4, step_weights: str = "final",
                 anneal_steps: int = 1000, eval_inner_steps: int | None = None,
                 adapt_only: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(backbone, keras.Model) or not backbone.built:
            raise ValueError(f"backbone must be a built keras.Model (give it an Input or call "
                             f"it once), got {backbone!r}")
        self.backbone = backbone
        self.inner_steps = checks.count("inner_steps", inner_steps)
        self.inner_learning_rate = checks.positive("inner_learning_rate", inner_learning_rate)
        self.step_weights = checks.one_of("step_weights", step_weights, STEP_WEIGHTS)
        self.anneal_steps = checks.count("anneal_steps", anneal_steps)
        self.eval_inner_steps = (self.inner_steps if eval_inner_steps is None
                                 else checks.count("eval_inner_steps", eval_inner_steps))
        self.adapt_only = checks.one_of("adapt_only", adapt_only, ADAPT_ONLY)
        selection.for_learner(self.selection(), {PLAYER: backbone.trainable_variables},
                              "reptile" if isinstance(self, Reptile) else "maml")
        self._engine = Engine(self.make_inner())
        self.built = True

    # -- what each learner chooses ----------------------------------------------------------
    def make_inner(self):
        """The differentiable inner optimizer (SGD at ``inner_learning_rate``)."""
        return inner_lib.sgd(self.inner_learning_rate)

    def selection(self) -> dict | None:
        """The engine's ``adapt_only``: ``{"model": head indices}``, or None (every weight)."""
        return None if self.adapt_only is None else selection.head_only(self.backbone, PLAYER)

    def training_tasks(self, tasks: Task) -> Task:
        """The meta-batch the engine trains on (Reptile: whole episodes)."""
        return tasks

    # -- Keras ------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return dict(super().get_config(), backbone=keras.saving.serialize_keras_object(
            self.backbone), inner_steps=self.inner_steps,
            inner_learning_rate=self.inner_learning_rate, step_weights=self.step_weights,
            anneal_steps=self.anneal_steps, eval_inner_steps=self.eval_inner_steps,
            adapt_only=self.adapt_only)

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        if loss is None:
            raise ValueError(f"{type(self).__name__}.compile needs loss=..., e.g. keras.losses."
                             "SparseCategoricalCrossentropy(from_logits=True)")
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        self._engine.loss = per_example(loss)
        if self.engine_algorithm == "maml" and exporting.keras_batch_norm(self.backbone):
            warnings.warn(
                f"{type(self).__name__}: backbone {self.backbone.name!r} uses keras.layers."
                "BatchNormalization, whose second derivative is wrong (tf.nn.moments stops the "
                "gradient of the mean inside the variance), so the second-order meta-gradient "
                "is inexact; use tfmeta.nets.layers.BatchStatNorm (exact, as "
                "tfmeta.nets.build_conv4) or first_order=True", stacklevel=3)
        with self.distribute_strategy.scope():
            self._engine.learner = MetaLearner(
                {PLAYER: self.backbone.trainable_variables}, self.objective, self._engine.inner,
                outer={PLAYER: self.optimizer}, algorithm=self.engine_algorithm,
                inner_steps=self.inner_steps, step_weights=self.step_weights,
                anneal_steps=self.anneal_steps, step=self.optimizer.iterations,
                adapt_only=self.selection())
        if self.backbone.outputs:
            self.build_compiled(int(self.backbone.outputs[0].shape[-1]),
                                self.backbone.outputs[0].dtype)

    @property
    def learner(self) -> MetaLearner:
        """The engine: a MetaLearner whose outer optimizer is the compiled one."""
        if self._engine.learner is None:
            raise ValueError(f"call {type(self).__name__}.compile(optimizer, loss, ...) first")
        return self._engine.learner

    @property
    def inner_optimizer(self):
        """The inner optimizer the learner adapts with (:mod:`tfmeta.inner`)."""
        return self._engine.inner

    def objective(self, params: dict, batch: Any, seed) -> dict:
        """``{"model": mean loss}`` of the backbone at ``params`` on ``(images, labels)``."""
        del seed
        images, labels = batch
        outputs = functional.apply(self.backbone, params[PLAYER], images, training=True)
        return {PLAYER: tf.reduce_mean(self._engine.loss(labels, outputs))}

    def train_step(self, data: Task):
        learner = self.learner
        grads, metrics = learner.mean_gradients(self.training_tasks(data))
        grads, metrics = keras_replica_share(grads, metrics)
        # the compiled metrics of the queries after adaptation from the initialization that
        # the meta-gradient was taken at (one more first-order pass of the inner loop; skipped
        # when no metric was compiled)
        if any(metric.name != "loss" for metric in self.metrics):
            with tf.control_dependencies(tf.nest.flatten(grads)):
                self._score(data, loss=False, inner_steps=self.inner_steps)
        learner.apply_gradients(grads, metrics)
        for metric in self.metrics:
            if metric.name == "loss":   # the meta-loss: the queries' loss after adaptation
                metric.update_state(metrics[f"meta_loss/{PLAYER}"])
        return self.get_metrics_result()

    def test_step(self, data: Task):
        self.learner   # noqa: B018 -- the compiled loss is needed: one clear error if missing
        self._score(data, loss=True, inner_steps=self.eval_inner_steps)
        return self.get_metrics_result()

    # -- adaptation -------------------------------------------------------------------------
    def adapted_params(self, support_images, support_labels, inner_steps: int | None = None,
                       seed=None, *, steps: int | None = None) -> list:
        """The backbone's parameters after ``inner_steps`` (default ``eval_inner_steps``) inner
        steps on a support set; ``steps`` is the deprecated name of ``inner_steps``."""
        self.learner   # noqa: B018 -- needs the compiled loss
        inner_steps = checks.renamed("inner_steps", inner_steps, "steps", steps, None)
        inner_steps = (self.eval_inner_steps if inner_steps is None
                       else checks.count("inner_steps", inner_steps, 0))
        start = {PLAYER: [tf.convert_to_tensor(v) for v in self.backbone.trainable_variables]}
        trajectory = adaptation_trajectory(
            self.objective, start, Reused((support_images, support_labels)), self._engine.inner,
            inner_steps=inner_steps, seed=tf.zeros([2], tf.int32) if seed is None else seed,
            adapt_only=self.selection())
        return trajectory[-1][PLAYER]

    def adapt(self, support_images, support_labels, inner_steps: int | None = None, *,
              steps: int | None = None) -> keras.Model:
        """A plain Keras model for one task: the backbone after ``inner_steps`` inner steps
        (``steps``: its deprecated name).

        Its outputs equal the backbone's at the adapted parameters with
        ``training=True``; a backbone with BatchNorm keeps normalizing with the
        batch's statistics, as in meta-training (see :func:`exporting.plain_model`).
        """
        inner_steps = checks.renamed("inner_steps", inner_steps, "steps", steps, None)
        return exporting.plain_model(self.backbone, self.adapted_params(
            tf.convert_to_tensor(support_images), tf.convert_to_tensor(support_labels),
            inner_steps))

    def export(self, filepath, format: str = "tf_saved_model", verbose: bool = True, *,
               adapt_steps: int | None = None, max_support: int = 256,
               max_query: int = 1024, **kwargs) -> None:
        """A SavedModel whose ``adapt_and_classify`` adapts to a support set in the graph.

        The same signatures as ``python -m export.saved_model`` on a few-shot run
        (:mod:`tfmeta.savedmodel.classifier`): ``adapt_and_classify``
        (``serving_default``), ``adapt`` and ``classify``; ``adapt_steps``
        defaults to ``eval_inner_steps``.
        """
        exporting.export_gradient(self, filepath, format=format, verbose=verbose,
                                  adapt_steps=adapt_steps, max_support=max_support,
                                  max_query=max_query, **kwargs)

    def _score(self, data: Task, loss: bool, inner_steps: int) -> None:
        """Adapts to each episode's support set and updates the metrics on its queries."""
        (support_images, support_labels), (query_images, query_labels) = (
            data.inner.batch, data.val.batch)

        def one_episode(episode):
            params = self.adapted_params(episode[0], episode[1], inner_steps)
            return functional.apply(self.backbone, params, episode[2], training=True)

        outputs = tf.map_fn(one_episode, (support_images, support_labels, query_images),
                            fn_output_signature=self.backbone.outputs[0].dtype)
        outputs = tf.reshape(outputs, tf.concat([[-1], tf.shape(outputs)[2:]], axis=0))
        labels = tf.reshape(query_labels, [-1])
        for metric in self.metrics:
            if metric.name != "loss":
                metric.update_state(labels, outputs)
            elif loss:
                metric.update_state(tf.reduce_mean(self._engine.loss(labels, outputs)))


@keras.saving.register_keras_serializable(package="tfmeta")
class MAML(GradientMetaLearner):
    """Model-agnostic meta-learning (Finn et al. 2017) of a Keras classifier's initialization.

    ``first_order=True``: FOMAML (the inner gradients are not differentiated).
    The other arguments are :class:`GradientMetaLearner`'s.
    """

    def __init__(self, backbone: keras.Model, inner_steps: int = 1,
                 inner_learning_rate: float = 0.4, first_order: bool = False, **kwargs):
        super().__init__(backbone, inner_steps, inner_learning_rate, **kwargs)
        self.first_order = bool(first_order)

    @property
    def engine_algorithm(self) -> str:
        return "fomaml" if self.first_order else "maml"


    def get_config(self) -> dict:
        return dict(super().get_config(), first_order=self.first_order)


@keras.saving.register_keras_serializable(package="tfmeta")
class MetaSGD(MAML):
    """Meta-SGD (Li et al. 2017): MAML that also learns one inner rate per parameter entry.

    The rates (``inner_learning_rates``, weights of this model) start at
    ``inner_learning_rate`` and are trained by the compiled optimizer with the
    initialization; with ``adapt_only="head"`` there are rates for the head only.
    """

    def make_inner(self):
        self.inner_learning_rates = inner_lib.meta_sgd_learning_rates(
            selection.adapted_variables(self.backbone.trainable_variables, self.selection()),
            self.inner_learning_rate, name="inner_lr")
        return inner_lib.meta_sgd(self.inner_learning_rates)


@keras.saving.register_keras_serializable(package="tfmeta")
class Reptile(GradientMetaLearner):
    """Reptile (Nichol et al. 2018): moves the initialization toward the adapted weights.

    Each episode's inner steps run on its support *and* query images (Reptile
    has no validation loss); compile with ``keras.optimizers.SGD(epsilon)`` for
    Reptile's ``init += epsilon * (adapted - init)`` (another optimizer takes
    ``init - adapted`` as its gradient, as FIGR). The reported loss is the
    inner loss of the last step.
    """

    engine_algorithm = "reptile"

    def training_tasks(self, tasks: Task) -> Task:
        return whole_episodes(tasks)
