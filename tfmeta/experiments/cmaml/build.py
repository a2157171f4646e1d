"""Data, models, learner, checkpoint and training task stream of a CMAML / MAML run.

Both algorithms share the backbone: Conv-4 (stride 2, batch statistics) with
its linear ``ways``-way head. Plain MAML meta-trains that network alone. CMAML
makes it the *shared* module (the spatial mean of the last block is the
``features``, the head's logits the shared output), adds a *gate*
``Dense(1)`` on the features and a *private* ReLU MLP
``features -> private_hidden -> ways``; the logits are
``o * shared + (1 - o) * private`` (:mod:`tfmeta.algorithms.cmaml`).

CMAML's training stream: the first ``pretrain_steps`` meta-updates are MAML
on the whole model (nothing pruned: the paper's pre-training); after them each
episode's private masks come from Algorithm 1 on its support set, at the
current parameters (Algorithm 2 with masks recomputed per sampled task). The
stream is a pure function of the step and the variables, so a resumed run
replays it exactly.

Example:
    >>> splits = load_data(config)
    >>> setup = build(config, splits.train.image_shape)
    >>> tasks = training_sampler(setup, splits.train)(step)
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner, cmaml
from tfmeta.classify import classification_objective, cross_entropy
from tfmeta.data import ClassDatasetSplits, EpisodeSampler, load_folder_dataset, load_omniglot
from tfmeta.experiments.cmaml.config import CmamlConfig
from tfmeta.nets import build_conv4

PLAYER = "model"
FOLDER_TRAIN_FRACTION = 0.7


class CmamlSetup(NamedTuple):
    """Everything a run is made of (``modules`` is None for plain MAML)."""
    config: CmamlConfig
    conv4: keras.Model
    modules: cmaml.Modules | None
    objective: Callable
    inner: Any
    learner: MetaLearner
    checkpoint: tf.train.Checkpoint

    def variables(self) -> list:
        """The player's meta-parameters, in its parameter order."""
        return self.modules.variables() if self.modules else list(self.conv4.trainable_variables)

    def masks_of(self, params: list, support: tuple) -> list:
        """Algorithm 1 on ``support`` at ``params`` (CMAML only)."""
        c = self.config
        return cmaml.task_masks(self.modules, params, support, cross_entropy,
                                steps=c.prune_steps, learning_rate=c.prune_lr, l1=c.l1,
                                threshold=c.threshold)


def load_data(config: CmamlConfig) -> ClassDatasetSplits:
    """Meta-train / meta-test classes: Omniglot's classification split (rotations as classes),
    or a folder dataset split 70/30 by a fixed shuffle of its classes."""
    if config.dataset == "omniglot":
        return load_omniglot("classification", data_dir=config.data_dir, download=False)
    dataset = load_folder_dataset(config.folder)
    ids = np.random.default_rng(0).permutation(np.asarray(dataset.class_ids))
    cut = int(round(FOLDER_TRAIN_FRACTION * len(ids)))
    return dataset.split(sorted(int(i) for i in ids[:cut]), sorted(int(i) for i in ids[cut:]))


def build_modules(config: CmamlConfig, conv4: keras.Model, dtype: str = "float32"
                  ) -> cmaml.Modules:
    """Shared (Conv-4 with its head), gate and private modules on Conv-4's mean features."""
    shared = keras.Model(conv4.inputs, [conv4.get_layer("mean").output, conv4.output],
                         name="shared")
    features = keras.Input((config.filters,), dtype=dtype, name="features")
    gate = keras.Model(features, keras.layers.Dense(1, dtype=dtype, name="gate")(features),
                       name="gate")
    h = features
    for i, width in enumerate(config.private_hidden):
        h = keras.layers.Dense(width, activation="relu", dtype=dtype, name=f"private{i}")(h)
    out = keras.layers.Dense(config.ways, dtype=dtype, name="private_out")(h)
    return cmaml.Modules(shared, gate, keras.Model(features, out, name="private"))


def build(config: CmamlConfig, image_shape) -> CmamlSetup:
    """Models, objective, inner SGD, MetaLearner (second-order MAML) and checkpoint."""
    keras.utils.set_random_seed(config.seed)
    conv4 = build_conv4(config.ways, tuple(image_shape), filters=config.filters)
    items: dict[str, Any] = {"conv4": conv4}
    if config.algorithm == "cmaml":
        modules = build_modules(config, conv4)
        objective = cmaml.cmaml_objective(modules, cross_entropy)
        variables = modules.variables()
        items.update(gate=modules.gate, private=modules.private)
    else:
        modules, objective = None, classification_objective(conv4)
        variables = list(conv4.trainable_variables)
    inner = inner_lib.sgd(config.inner_lr)
    learner = MetaLearner({PLAYER: variables}, objective, inner,
                          lambda: keras.optimizers.Adam(config.outer_lr), algorithm="maml",
                          inner_steps=config.inner_steps)
    items.update(step=learner.step, optimizer=learner.outer[PLAYER])
    return CmamlSetup(config, conv4, modules, objective, inner, learner,
                 tf.train.Checkpoint(**items))


def training_episodes(config: CmamlConfig, dataset) -> EpisodeSampler:
    """The run's training episodes, ``meta_batch_size`` per meta-batch (ValueError if the
    classes of ``dataset`` cannot fill them)."""
    return EpisodeSampler(dataset, ways=config.ways, shots=config.shots, queries=config.queries,
                          seed=config.seed, episodes=config.meta_batch_size)


def training_sampler(setup: CmamlSetup, dataset, *,
                     episodes: EpisodeSampler | None = None) -> Callable:
    """``step -> Task`` of ``meta_batch_size`` episodes; CMAML's carry each task's masks.

    ``episodes``: :func:`training_episodes` of ``dataset`` when already made.
    """
    c = setup.config
    episodes = episodes if episodes is not None else training_episodes(c, dataset)
    if setup.modules is None:
        return episodes.meta_batch
    full = cmaml.full_masks(setup.modules.private)

    def sample(step):
        tasks = episodes.meta_batch(step)
        params = [tf.convert_to_tensor(v) for v in setup.variables()]
        pruning = tf.cast(step, tf.int64) >= c.pretrain_steps

        def masks_of(support):
            return tf.cond(pruning, lambda: setup.masks_of(params, support),
                           lambda: [tf.identity(m) for m in full])
        return cmaml.with_masks(tasks, masks_of)
    return sample
