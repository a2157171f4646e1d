"""Support sets and step batches: distinct shots of one class, each step a subset of them."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfmeta.data import ClassDataset
from tfmeta.data.sampling import check_count, sample_without_replacement, step_key
from tfmeta.data.support import step_batches, support_set, task_classes

# Image i has every pixel equal to -(i + 1) / 1000, so it can be read back from any pixel.
LABELS = np.repeat([4, 9], [12, 30])


def _coded() -> ClassDataset:
    codes = -(np.arange(len(LABELS), dtype=np.float32) + 1) / 1000.0
    images = np.broadcast_to(codes[:, None, None, None], (len(LABELS), 4, 4, 1))
    return ClassDataset.from_labelled_images(images, LABELS, name="coded")


def _decode(images) -> list[int]:
    return (np.rint(-np.asarray(images)[..., 0, 0, 0] * 1000.0).astype(int) - 1).tolist()


def test_support_set_is_distinct_images_of_its_class_and_deterministic():
    ds = _coded()
    shots = _decode(support_set(ds, 1, task_number=3, size=10, seed=5))
    assert len(set(shots)) == 10
    assert set(shots) <= set(np.flatnonzero(LABELS == 9).tolist())
    assert shots == _decode(support_set(ds, 1, task_number=3, size=10, seed=5))
    assert shots != _decode(support_set(ds, 1, task_number=4, size=10, seed=5))


def test_support_larger_than_the_class_is_refused_naming_both_sizes():
    with pytest.raises(ValueError, match=r"support_size=13 is larger than class '4' \(12 images\)"):
        support_set(_coded(), 0, task_number=0, size=13, seed=0)


def test_each_step_batch_is_a_subset_of_the_support_without_repeats():
    support = support_set(_coded(), 1, task_number=0, size=16, seed=0)
    batches = step_batches(support, steps=4, batch_size=6, seed=tf.constant([1, 2]))
    assert batches.shape == (4, 6, 4, 4, 1)
    shots = set(_decode(support))
    per_step = [_decode(b) for b in batches]
    for step in per_step:
        assert len(set(step)) == 6 and set(step) <= shots
    assert len({tuple(s) for s in per_step}) > 1       # steps draw different subsets
    again = step_batches(support, steps=4, batch_size=6, seed=tf.constant([1, 2]))
    np.testing.assert_array_equal(batches, again)


def test_task_classes_cover_the_classes_with_replacement():
    classes = task_classes(3, 64, seed=0)
    assert set(classes.tolist()) == {0, 1, 2}
    np.testing.assert_array_equal(classes, task_classes(3, 64, seed=0))


def test_sampling_primitives_draw_distinct_valid_indices_and_check_counts():
    key = step_key(0, 7, salt=1)
    index = sample_without_replacement(key, tf.constant([5, 9]), max_count=9, num=5).numpy()
    assert sorted(index[0].tolist()) == [0, 1, 2, 3, 4]          # all of a 5-image class
    assert len(set(index[1].tolist())) == 5 and index[1].max() < 9
    assert check_count("ways", 3, 1) == 3
    with pytest.raises(ValueError, match="`ways` must be an integer >= 1, got 0"):
        check_count("ways", 0, 1)
