"""Part of distribute_child's process: fit under a MirroredStrategy equals fit on one device.

:func:`main` runs in ``tests.tfmeta.distribute_child``, whose process has split the CPU
into 2 logical devices (that must happen before TensorFlow starts its devices, so it
cannot happen in the test process). It prints one JSON line per model (MAML and Meta-SGD
with BatchNorm, ProtoNet without: its one forward pass of the meta-batch normalizes over the
episodes a replica holds, so with BatchNorm replicas see other statistics, as any
data-parallel Keras model): the largest difference of the weights after two meta-batches of
4 episodes fitted on one device and under a MirroredStrategy of 2 logical CPUs, both
histories, the strategy run's optimizer iterations, and the episodes each replica receives.
"""

import contextlib
import json

import keras
import numpy as np

from tfmeta import keras as tk
from tfmeta.data import EpisodeSampler
from tfmeta.data.class_dataset import ClassDataset


def sampler() -> EpisodeSampler:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 6)
    images = rng.uniform(-0.5, 0.5, (60, 8, 8, 1)) + labels[:, None, None, None] * 0.05
    return EpisodeSampler(ClassDataset.from_labelled_images(images.astype(np.float32), labels),
                          ways=3, shots=1, queries=2, episodes=4, seed=0)


def backbone(outputs: int, batch_norm: bool = True) -> keras.Model:
    keras.utils.set_random_seed(0)
    norm = [keras.layers.BatchNormalization()] if batch_norm else []
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(8), *norm,
                             keras.layers.Activation("tanh"), keras.layers.Dense(outputs)])


def make(kind: str):
    optimizer = keras.optimizers.SGD(0.5)   # Adam would amplify float noise in near-zero gradients
    if kind == "protonet":
        model = tk.ProtoNet(backbone(4, batch_norm=False), ways=3)
        model.compile(optimizer=optimizer, metrics=["accuracy"])
        return model
    cls = tk.MetaSGD if kind == "metasgd" else tk.MAML
    model = cls(backbone(3), inner_steps=2, inner_learning_rate=0.4)
    model.compile(optimizer=optimizer, metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def fit(kind: str, strategy):
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = make(kind)
    history = model.fit(tk.episodes(sampler(), 2), epochs=1, verbose=0).history
    return model, history


def main(strategy) -> None:
    """One JSON line per model, ``strategy`` a MirroredStrategy over 2 logical CPUs."""
    for element in strategy.experimental_distribute_dataset(tk.episodes(sampler(), 1)):
        shares = [int(t.shape[0]) for t in strategy.experimental_local_results(element.seed)]
    for kind in ("maml", "metasgd", "protonet"):
        one, one_history = fit(kind, None)
        two, two_history = fit(kind, strategy)
        print(json.dumps({
            "kind": kind, "shares": shares,
            "weights": max(float(np.max(np.abs(a.numpy() - b.numpy())))
                           for a, b in zip(one.variables, two.variables)),
            "moved": max(float(np.max(np.abs(a.numpy() - b.numpy())))
                         for a, b in zip(one.variables, make(kind).variables)),
            "one": one_history, "two": two_history,
            "iterations": int(two.optimizer.iterations.numpy())}), flush=True)
