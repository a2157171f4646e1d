"""Tests of MetaBatchSampler, EpisodeSampler and the per-class batches."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfmeta.data import ClassDataset, EpisodeSampler, MetaBatchSampler
from tfmeta.types import Task

# A dataset whose every pixel encodes its image number: image i has the value
# -(i + 1) / SCALE, so zero padding decodes to -1 and is recognisable.
SCALE = 1000.0
CODED_COUNTS = [40, 33, 50, 35, 60, 34]
# LABELS[i] is the class of image i (shuffled, so classes are interleaved).
LABELS = np.random.default_rng(0).permutation(
    np.repeat(np.arange(len(CODED_COUNTS)), CODED_COUNTS))


@pytest.fixture(scope="module")
def coded() -> ClassDataset:
    images = -(np.arange(len(LABELS), dtype=np.float32) + 1) / SCALE
    images = np.broadcast_to(images[:, None, None, None], (len(LABELS), 4, 4, 1))
    return ClassDataset.from_labelled_images(images, LABELS, name="coded")


def test_uint8_images_are_scaled_to_float32_minus_one_one_grouped_by_label():
    images = np.array([0, 255, 51, 102], np.uint8).reshape(4, 1, 1, 1)
    ds = ClassDataset.from_labelled_images(images, [3, 1, 3, 1], class_names={1: "a", 3: "b"})
    assert ds.images.dtype == tf.float32 and ds.class_names == ("a", "b")
    np.testing.assert_allclose(ds.class_images(0).numpy().ravel(), [1.0, -0.2], atol=1e-6)
    np.testing.assert_allclose(ds.class_images(1).numpy().ravel(), [-1.0, -0.6], atol=1e-6)


def _ids(images) -> np.ndarray:
    """Image ids of a batch tensor [..., H, W, C]; -1 for padding."""
    return np.round(-np.asarray(images)[..., 0, 0, 0] * SCALE).astype(int) - 1


def _equal(a, b) -> bool:
    return all(np.array_equal(x.numpy(), y.numpy())
               for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)))


def test_meta_batch_is_a_task_of_n_by_k_batches_with_distinct_int32_task_seeds(mnist):
    sampler = MetaBatchSampler(mnist.train, tasks=4, inner_steps=10, batch_size=32, seed=0)
    task = sampler(0)
    assert isinstance(task, Task)
    assert task.inner.shape == (4, 10, 32, 28, 28, 1) and task.inner.dtype == tf.float32
    assert task.val.shape == (4, 10, 32, 28, 28, 1) and task.val.dtype == tf.float32
    assert task.seed.shape == (4, 2) and task.seed.dtype == tf.int32
    assert len({tuple(s) for s in task.seed.numpy().tolist()}) == 4
    assert float(tf.reduce_min(task.inner)) == -1.0 and float(tf.reduce_max(task.inner)) == 1.0
    assert _equal(sampler.meta_batch(0), task)


def test_zero_inner_steps_still_give_one_validation_batch(coded):
    task = MetaBatchSampler(coded, tasks=3, inner_steps=0, batch_size=8)(7)
    assert task.inner.shape == (3, 0, 8, 4, 4, 1)
    assert task.val.shape == (3, 1, 8, 4, 4, 1)


def test_each_task_is_one_class_with_distinct_images_per_batch_and_no_padding(coded):
    sampler = MetaBatchSampler(coded, tasks=4, inner_steps=3, batch_size=33, seed=1)
    for step in range(5):
        task, classes = sampler(step), sampler.classes(step).numpy()
        assert len(set(classes.tolist())) == 4                   # distinct classes
        ids = np.concatenate([_ids(task.inner), _ids(task.val)], axis=1)  # [N, 6, B]
        assert ids.min() >= 0                                    # never padding
        for i, c in enumerate(classes):
            assert set(LABELS[ids[i].ravel()]) == {c}  # all images of class c
            for batch in ids[i]:
                assert len(set(batch.tolist())) == 33           # distinct within a batch


def test_over_many_steps_every_class_and_every_image_is_drawn(coded):
    sampler = MetaBatchSampler(coded, tasks=2, inner_steps=1, batch_size=10)
    seen_classes, seen_images = set(), set()
    for step in range(60):
        seen_classes.update(sampler.classes(step).numpy().tolist())
        task = sampler(step)
        seen_images.update(_ids(task.inner).ravel().tolist() + _ids(task.val).ravel().tolist())
    assert seen_classes == set(range(len(CODED_COUNTS)))
    assert seen_images == set(range(sum(CODED_COUNTS)))


def test_same_seed_and_step_give_the_same_meta_batch(mnist):
    make = lambda: MetaBatchSampler(mnist.train, tasks=4, inner_steps=2, batch_size=16, seed=3)
    assert _equal(make()(11), make()(11))


def test_different_steps_or_seeds_give_different_meta_batches(mnist):
    a = MetaBatchSampler(mnist.train, tasks=4, inner_steps=2, batch_size=16, seed=3)
    b = MetaBatchSampler(mnist.train, tasks=4, inner_steps=2, batch_size=16, seed=4)
    assert not np.array_equal(a(0).inner.numpy(), a(1).inner.numpy())
    assert not np.array_equal(a(0).seed.numpy(), a(1).seed.numpy())
    assert not np.array_equal(a(0).inner.numpy(), b(0).inner.numpy())


def test_sampler_in_tf_function_with_tensor_step_matches_eager(mnist):
    sampler = MetaBatchSampler(mnist.train, tasks=4, inner_steps=2, batch_size=16, seed=5)
    compiled = tf.function(sampler)
    for step in (tf.constant(9), tf.constant(9, tf.int64)):
        assert _equal(compiled(step), sampler(9))
    assert compiled.experimental_get_tracing_count() == 2   # one per step dtype, no retrace
    compiled(tf.constant(10, tf.int64))
    assert compiled.experimental_get_tracing_count() == 2


def test_episode_is_n_way_k_shot_relabelled_0_to_n_minus_1(omniglot):
    sampler = EpisodeSampler(omniglot.test, ways=5, shots=1, queries=15, seed=0)
    episode = sampler(0)
    assert episode.support_images.shape == (5, 28, 28, 1)
    assert episode.query_images.shape == (75, 28, 28, 1)
    assert episode.support_labels.numpy().tolist() == [0, 1, 2, 3, 4]
    assert episode.query_labels.numpy().tolist() == np.repeat(np.arange(5), 15).tolist()
    assert episode.support_labels.dtype == tf.int32 and episode.query_labels.dtype == tf.int32
    assert len(set(episode.classes.numpy().tolist())) == 5
    assert _equal(sampler.episode(0), episode)
    assert not np.array_equal(sampler(1).classes.numpy(), episode.classes.numpy())


def test_episode_support_and_query_are_disjoint_images_of_the_labelled_class(coded):
    sampler = EpisodeSampler(coded, ways=3, shots=5, queries=28, seed=2)
    compiled = tf.function(sampler)
    for step in range(4):
        episode = sampler(step)
        assert _equal(compiled(tf.constant(step)), episode)
        support, query = _ids(episode.support_images), _ids(episode.query_images)
        classes = episode.classes.numpy()
        assert not set(support.tolist()) & set(query.tolist())
        assert len(set(query.tolist())) == 3 * 28
        np.testing.assert_array_equal(LABELS[support],
                                      classes[episode.support_labels.numpy()])
        np.testing.assert_array_equal(LABELS[query],
                                      classes[episode.query_labels.numpy()])


def test_class_images_are_all_images_of_the_class(coded):
    for c, count in enumerate(CODED_COUNTS):
        ids = _ids(coded.class_images(c))
        assert sorted(ids.tolist()) == np.flatnonzero(LABELS == c).tolist()
        assert len(ids) == count


def test_class_batches_are_deterministic_distinct_images_of_one_class(coded):
    batches = coded.class_batches(2, step=0, num_batches=4, batch_size=50)
    assert batches.shape == (4, 50, 4, 4, 1)
    ids = _ids(batches)
    assert set(LABELS[ids.ravel()]) == {2}
    assert all(len(set(b.tolist())) == 50 for b in ids)
    assert np.array_equal(coded.class_batches(2, 0, 4, 50).numpy(), batches.numpy())
    assert not np.array_equal(coded.class_batches(2, 1, 4, 50).numpy(), batches.numpy())
    assert not np.array_equal(coded.class_batches(2, 0, 4, 50, seed=1).numpy(),
                              batches.numpy())


def test_class_batches_and_class_images_run_in_tf_function_with_tensor_class(coded):
    @tf.function
    def draw(class_index, step):
        return coded.class_batches(class_index, step, 2, 8), coded.class_images(class_index)

    batches, images = draw(tf.constant(4), tf.constant(3))
    np.testing.assert_array_equal(batches.numpy(), coded.class_batches(4, 3, 2, 8).numpy())
    assert images.shape[0] == CODED_COUNTS[4]
    with pytest.raises(tf.errors.InvalidArgumentError, match="fewer images than batch_size"):
        tf.function(lambda c: coded.class_batches(c, 0, 1, 36))(tf.constant(1))
