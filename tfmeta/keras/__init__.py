"""``tfmeta.keras``: meta-learning through Keras's own ``compile``, ``fit``, ``evaluate`` and ``export``.

* :class:`MAML` (``first_order=True``: FOMAML), :class:`MetaSGD`,
  :class:`Reptile` (:mod:`.gradient`) wrap a Keras classifier; :class:`ProtoNet`
  (:mod:`.protonet`) an embedding; :class:`Baseline` (:mod:`.baseline`) an
  embedding pre-trained as a classifier on ordinary labelled batches, episodes
  scored by a head on its features. Their ``train_step`` / ``test_step`` run the
  engine the command-line trainers run (:class:`tfmeta.algorithms.MetaLearner`,
  :class:`tfmeta.metric.MetricLearner`, :class:`tfmeta.metric.BaselineLearner`),
  with the compiled optimizer;
* :func:`episodes`: meta-batches of episodes (support and query sets) of a
  :class:`tfmeta.data.EpisodeSampler` as a ``tf.data.Dataset``;
  :func:`test_episodes`: the trainers' held-out evaluation episodes;
  :func:`batches`: labelled mini-batches of a :class:`tfmeta.data.ImageBatchSampler`;
* ``adapt(support_images, support_labels)``: a plain Keras model for one task;
  ``export(path)``: a SavedModel whose ``adapt_and_classify`` adapts in the graph.

They work with Keras callbacks (``TensorBoard``, ``ModelCheckpoint``,
``BackupAndRestore``, ``EarlyStopping``), ``summary()``, ``.keras`` saving and a
``tf.distribute`` strategy scope. The guide is docs/keras.md.

Example:
    >>> meta = tfmeta.keras.MAML(backbone, inner_steps=1, inner_learning_rate=0.4)
    >>> meta.compile(optimizer=keras.optimizers.Adam(1e-3),
    ...              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...              metrics=["accuracy"])
    >>> meta.fit(tfmeta.keras.episodes(sampler, start=meta.optimizer.iterations),
    ...          epochs=3, steps_per_epoch=100)
"""

from tfmeta.keras.baseline import Baseline
from tfmeta.keras.episodes import batches, episodes, test_episodes
from tfmeta.keras.gradient import MAML, GradientMetaLearner, MetaSGD, Reptile
from tfmeta.keras.protonet import ProtoNet

__all__ = ["MAML", "MetaSGD", "Reptile", "ProtoNet", "Baseline", "GradientMetaLearner",
           "batches", "episodes", "test_episodes"]
