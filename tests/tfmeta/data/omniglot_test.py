"""Tests of tfmeta.data.omniglot: the few-shot splits, rotated classes, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfmeta.data import (ClassDataset, EpisodeSampler, load_omniglot, preprocess_images,
                         rotate_classes)
from tfmeta.data.omniglot import OMNIGLOT_CHARACTERS, classification_characters


@pytest.fixture(scope="module")
def classification(tfds_dir):
    return load_omniglot(data_dir=tfds_dir, download=False)


def characters(dataset: ClassDataset) -> set[int]:
    return {cid % OMNIGLOT_CHARACTERS for cid in dataset.class_ids}


def test_classification_split_is_1200_and_423_disjoint_characters_in_four_rotations(
        classification):
    train, test = classification
    assert (train.num_classes, test.num_classes) == (4800, 1692)
    assert len(characters(train)) == 1200 and len(characters(test)) == 423
    assert not characters(train) & characters(test)
    assert characters(train) | characters(test) == set(range(OMNIGLOT_CHARACTERS))
    for ds, chars in ((train, characters(train)), (test, characters(test))):
        assert len(set(ds.class_ids)) == ds.num_classes
        assert set(ds.class_ids) == {c + k * OMNIGLOT_CHARACTERS for c in chars
                                     for k in range(4)}
        assert ds.image_shape == (28, 28, 1) and ds.max_count == 20
        np.testing.assert_array_equal(ds.counts.numpy(), 20)
        assert float(tf.reduce_min(ds.images)) >= -1.0
        assert float(tf.reduce_max(ds.images)) <= 1.0
        # Ink is bright on a dark background: most pixels sit near -1.
        assert float(tf.reduce_mean(ds.images)) < -0.5


def test_classification_split_is_the_same_on_every_call_and_changes_with_the_seed(
        tfds_dir, classification):
    again = load_omniglot(data_dir=tfds_dir, download=False)
    for first, second in zip(classification, again):
        assert first.class_ids == second.class_ids
        assert first.class_names == second.class_names
        assert bool(tf.reduce_all(first.images == second.images))
    assert classification_characters(0)[0] == sorted(
        cid for cid in classification.train.class_ids if cid < OMNIGLOT_CHARACTERS)
    assert classification_characters(1) != classification_characters(0)


def test_rotated_class_holds_the_rot90_images_of_its_character(classification):
    train = classification.train
    base = train.num_classes // 4
    for c in (0, 7, base - 1):
        name, cid = train.class_names[c], train.class_ids[c]
        original = train.class_images(c)
        for k in (1, 2, 3):
            index = k * base + c
            assert train.class_ids[index] == cid + k * OMNIGLOT_CHARACTERS
            assert train.class_names[index] == f"{name} rot{90 * k}"
            np.testing.assert_array_equal(train.class_images(index).numpy(),
                                          tf.image.rot90(original, k=k).numpy())
        assert not np.array_equal(train.class_images(base + c).numpy(), original.numpy())


def test_background_split_is_tfds_train_and_test_characters_with_their_images(tfds_dir):
    plain = load_omniglot("background", rotations=False, data_dir=tfds_dir, download=False)
    assert plain.train.class_ids == tuple(range(964))
    assert plain.test.class_ids == tuple(range(964, OMNIGLOT_CHARACTERS))
    np.testing.assert_array_equal(plain.train.counts.numpy(), 20)
    # The first drawings of TFDS's splits "train" (background) and "test"
    # (evaluation), preprocessed alike, are among their character's images.
    for part, dataset in (("train", plain.train), ("test", plain.test)):
        examples = tfds.load("omniglot", split=f"{part}[:24]", data_dir=tfds_dir,
                             download=False, shuffle_files=False)
        index = {cid: i for i, cid in enumerate(dataset.class_ids)}
        for example in examples.batch(24):
            images = preprocess_images(example["image"], (28, 28), 1, invert=True).numpy()
            for image, label in zip(images, example["label"].numpy()):
                assert int(label) in index
                drawings = dataset.class_images(index[int(label)]).numpy()
                assert (drawings == image).all(axis=(1, 2, 3)).any()
    rotated = load_omniglot("background", data_dir=tfds_dir, download=False)
    assert (rotated.train.num_classes, rotated.test.num_classes) == (964 * 4, 659 * 4)
    assert not set(rotated.train.class_ids) & set(rotated.test.class_ids)


def test_episodes_of_the_rotated_train_split_have_disjoint_support_and_query(
        classification):
    sampler = EpisodeSampler(classification.train, ways=5, shots=1, queries=15, seed=3)
    for step in (0, 1):
        episode = sampler(step)
        assert episode.support_images.shape == (5, 28, 28, 1)
        assert episode.query_images.shape == (75, 28, 28, 1)
        assert len(set(episode.classes.numpy().tolist())) == 5
        support = episode.support_images.numpy().reshape(5, -1)
        query = episode.query_images.numpy().reshape(75, -1)
        same = (support[:, None, :] == query[None, :, :]).all(axis=-1)
        assert not same.any()


@pytest.mark.parametrize("split", ["omniglot", "evaluation", ""])
def test_unknown_split_is_a_value_error_naming_it(split):
    with pytest.raises(ValueError, match=f"`split`={split!r} is not one of"):
        load_omniglot(split, download=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"image_size": 0}, "`image_size` must be an integer >= 1, got 0"),
    ({"image_size": 28.0}, "`image_size` must be an integer >= 1, got 28.0"),
    ({"rotations": "yes"}, "rotations must be True or False"),
    ({"seed": 1.5}, "seed must be a Python int"),
])
def test_bad_arguments_are_one_line_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as raised:
        load_omniglot(download=False, **kwargs)
    assert "\n" not in str(raised.value)


def toy_dataset(height: int = 4, width: int = 4) -> ClassDataset:
    images = np.random.default_rng(0).integers(0, 256, (6, height, width, 1), np.uint8)
    labels = np.array([3, 3, 5, 5, 5, 9])
    return ClassDataset.from_labelled_images(images, labels, name="toy")


def test_rotate_classes_offsets_ids_by_the_stride_and_repeats_counts():
    ds = toy_dataset()
    four = rotate_classes(ds)
    assert four.class_ids == (3, 5, 9, 13, 15, 19, 23, 25, 29, 33, 35, 39)
    assert four.class_names[4] == "5 rot90" and four.class_names[0] == "3"
    np.testing.assert_array_equal(four.counts.numpy(), [2, 3, 1] * 4)
    two = rotate_classes(ds, (0, 180), id_stride=100)
    assert two.class_ids == (3, 5, 9, 203, 205, 209)
    np.testing.assert_array_equal(two.class_images(4).numpy(),
                                  ds.class_images(1).numpy()[:, ::-1, ::-1])


@pytest.mark.parametrize("degrees, kwargs, message", [
    ((0, 45), {}, "degrees must be distinct angles from"),
    ((90, 90), {}, "degrees must be distinct angles from"),
    ((), {}, "degrees must be distinct angles from"),
    ((0, 90), {"id_stride": 6}, "id_stride must exceed the spread of the class ids"),
])
def test_rotate_classes_refuses_bad_angles_and_colliding_ids(degrees, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rotate_classes(toy_dataset(), degrees, **kwargs)


def test_quarter_turns_of_non_square_images_are_refused_half_turns_allowed():
    wide = toy_dataset(height=4, width=6)
    with pytest.raises(ValueError, match=r"rotating by \[90\] degrees needs square images"):
        rotate_classes(wide, (0, 90))
    assert rotate_classes(wide, (0, 180)).image_shape == (4, 6, 1)
