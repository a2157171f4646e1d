"""A MetaLearner trains on N-way K-shot episodes: support reused at every step, query scoring."""

import keras
import numpy as np
import tensorflow as tf

from tfmeta import functional
from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner
from tfmeta.data import ClassDataset, EpisodeSampler
from tfmeta.types import Reused

WAYS, SHOTS, QUERIES, EPISODES = 3, 2, 3, 2


def _dataset() -> ClassDataset:
    # 5 classes of 4x4 images, each class a noisy copy of its own pattern.
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 8)
    patterns = rng.uniform(-1, 1, (5, 4, 4, 1))
    images = np.clip(patterns[labels] + 0.2 * rng.standard_normal((40, 4, 4, 1)), -1, 1)
    return ClassDataset.from_labelled_images(images.astype(np.float32), labels, name="toy")


def _learner(seed: int = 0) -> MetaLearner:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(WAYS)], name="model")

    def objective(params, batch, seed):
        del seed
        images, labels = batch
        logits = functional.apply(model, params["model"], images)
        return {"model": tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))}

    return MetaLearner({"model": model.trainable_variables}, objective, inner_lib.sgd(0.5),
                       outer=lambda: keras.optimizers.Adam(1e-2), algorithm="maml", inner_steps=3)


def _weights(learner):
    return [v.numpy() for v in learner.model_variables["model"]]


def test_episode_task_reuses_support_and_query_with_labels_0_to_n_minus_1():
    sampler = EpisodeSampler(_dataset(), ways=WAYS, shots=SHOTS, queries=QUERIES, seed=3,
                             episodes=EPISODES)
    episode = sampler(0)
    task = episode.task()
    assert isinstance(task.inner, Reused) and isinstance(task.val, Reused)
    assert task.inner.batch[0] is episode.support_images
    assert task.val.batch[1].numpy().tolist() == np.repeat(np.arange(WAYS), QUERIES).tolist()
    assert task.seed.shape == (2,) and task.seed.dtype == tf.int32
    tasks = sampler.meta_batch(5)
    assert tasks.inner.batch[0].shape == (EPISODES, WAYS * SHOTS, 4, 4, 1)
    assert tasks.inner.batch[1].shape == (EPISODES, WAYS * SHOTS)
    assert tasks.val.batch[0].shape == (EPISODES, WAYS * QUERIES, 4, 4, 1)
    assert tasks.seed.shape == (EPISODES, 2)
    assert set(tasks.inner.batch[1].numpy().ravel().tolist()) == set(range(WAYS))
    # the episodes of one step differ, and the same step gives the same meta-batch
    assert not np.array_equal(tasks.inner.batch[0][0].numpy(), tasks.inner.batch[0][1].numpy())
    again = tf.function(sampler.meta_batch)(tf.constant(5))
    for a, b in zip(tf.nest.flatten(tasks), tf.nest.flatten(again)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_meta_learner_steps_on_episodes_are_deterministic_in_seed_and_step():
    dataset = _dataset()
    runs = []
    for _ in range(2):
        sampler = EpisodeSampler(dataset, ways=WAYS, shots=SHOTS, queries=QUERIES, seed=3,
                                 episodes=EPISODES)
        learner = _learner()
        before = _weights(learner)
        metrics = [learner.train_step(sampler.meta_batch(step)) for step in range(3)]
        runs.append(([float(m["meta_loss/model"]) for m in metrics], _weights(learner)))
        assert all(np.isfinite(runs[-1][0]))
        assert int(learner.step.numpy()) == 3
        assert any(not np.array_equal(a, b) for a, b in zip(before, _weights(learner)))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    # another step gives other episodes, hence another update
    other = _learner()
    sampler = EpisodeSampler(dataset, ways=WAYS, shots=SHOTS, queries=QUERIES, seed=3,
                             episodes=EPISODES)
    first = float(other.train_step(sampler.meta_batch(7))["meta_loss/model"])
    assert first != runs[0][0][0]
