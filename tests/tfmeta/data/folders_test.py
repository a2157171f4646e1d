"""Tests of load_folder_dataset on the real Omniglot image folders."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tfmeta.data import MetaBatchSampler, load_folder_dataset

ALPHABETS = ["Balinese", "Early_Aramaic", "Greek", "Korean", "Latin"]


@pytest.fixture(scope="module")
def small1(small1_dir):
    return load_folder_dataset(small1_dir, invert=True)


def test_background_small1_folder_gives_its_136_characters_as_classes_of_20_images(small1):
    assert small1.num_classes == 136
    assert set(small1.counts.numpy().tolist()) == {20}
    assert small1.class_ids == tuple(range(136))
    assert small1.class_names[0] == "Balinese/character01"
    assert sorted({n.split("/")[0] for n in small1.class_names}) == ALPHABETS
    assert len(set(small1.class_names)) == 136   # Greek/character01 != Latin/character01
    assert small1.images.shape == (136, 20, 28, 28, 1)


def test_inverted_folder_images_are_bright_ink_on_dark_in_minus_one_one(small1, small1_dir):
    pixels = small1.images.numpy()
    assert pixels.min() >= -1.0 and pixels.max() <= 1.0
    assert np.mean(pixels < -0.5) > 0.75
    plain = load_folder_dataset(small1_dir, image_size=(14, 12))
    assert plain.images.shape == (136, 20, 14, 12, 1)
    assert np.mean(plain.images.numpy() > 0.5) > 0.75     # not inverted: white paper


def test_folder_dataset_splits_into_disjoint_classes_and_samples(small1):
    splits = small1.split(train_classes=range(100))
    assert splits.train.num_classes == 100 and splits.test.num_classes == 36
    assert not set(splits.train.class_names) & set(splits.test.class_names)
    task = MetaBatchSampler(splits.train, tasks=3, inner_steps=1, batch_size=20)(0)
    assert task.inner.shape == (3, 1, 20, 28, 28, 1)


def test_one_level_folder_has_one_class_per_sub_folder(small1_dir, tmp_path):
    for name, source in (("a", "Greek/character01"), ("b", "Latin/character02")):
        shutil.copytree(small1_dir / source, tmp_path / name)
    ds = load_folder_dataset(tmp_path, image_size=28, channels=3, invert=True)
    assert ds.class_names == ("a", "b")
    assert ds.counts.numpy().tolist() == [20, 20]
    assert ds.image_shape == (28, 28, 3)
