"""Tests of load_class_dataset on the real, offline TFDS data (mnist, fashion_mnist, omniglot)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfmeta.data import ClassDataset, load_class_dataset
from tfmeta.data import tfds_datasets

# Per-digit image counts of MNIST (shared/data/README.md).
MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _padding_is_zero(ds: ClassDataset) -> bool:
    mask = np.arange(ds.max_count)[None, :] >= ds.counts.numpy()[:, None]
    return bool(np.all(ds.images.numpy()[mask] == 0.0))


def test_mnist_meta_train_is_digits_0_to_6_and_meta_test_7_to_9_with_every_image(mnist):
    assert mnist.train.class_ids == tuple(range(7))
    assert mnist.test.class_ids == (7, 8, 9)
    assert mnist.train.class_names == tuple(str(d) for d in range(7))
    merged = [a + b for a, b in zip(MNIST_TRAIN, MNIST_TEST)]
    assert mnist.train.counts.numpy().tolist() == merged[:7]   # digit 0: 5923 + 980 = 6903
    assert mnist.test.counts.numpy().tolist() == merged[7:]
    assert mnist.train.num_images + mnist.test.num_images == 70000


def test_mnist_images_are_float32_nhwc_in_minus_one_one_with_zero_padding(mnist):
    ds = mnist.train
    assert ds.images.dtype == tf.float32
    assert ds.images.shape == (7, max(a + b for a, b in zip(MNIST_TRAIN[:7], MNIST_TEST)),
                               28, 28, 1)
    assert ds.image_shape == (28, 28, 1)
    pixels = ds.class_images(0).numpy()
    assert pixels.shape == (6903, 28, 28, 1)
    assert pixels.min() == -1.0 and pixels.max() == 1.0
    assert np.mean(pixels == -1.0) > 0.7       # black background -> -1
    assert _padding_is_zero(ds)


def test_mnist_pixels_are_the_tfds_pixels_scaled_without_resizing(mnist, tfds_dir):
    first = next(iter(tfds.load("mnist", split="train", data_dir=tfds_dir, download=False)))
    digit = int(first["label"])
    expected = first["image"].numpy().astype(np.float32) / 127.5 - 1.0
    ds = mnist.train if digit < 7 else mnist.test
    got = ds.class_images(ds.class_ids.index(digit))[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_omniglot_meta_train_is_964_background_and_meta_test_659_evaluation_characters(
        omniglot):
    train, test = omniglot
    assert train.num_classes == 964 and test.num_classes == 659
    assert train.class_ids == tuple(range(964))          # TFDS labels kept as class ids
    assert test.class_ids == tuple(range(964, 1623))
    assert not set(train.class_ids) & set(test.class_ids)
    assert set(train.counts.numpy().tolist()) == {20}
    assert set(test.counts.numpy().tolist()) == {20}
    assert train.images.shape == (964, 20, 28, 28, 1)
    assert test.class_names[0] == "Angelic_0"


def test_omniglot_is_resized_and_inverted_so_ink_is_bright_on_dark(omniglot):
    pixels = omniglot.test.images.numpy()
    assert pixels.dtype == np.float32
    assert pixels.min() >= -1.0 and pixels.max() <= 1.0
    assert np.mean(pixels < -0.5) > 0.75      # mostly dark paper
    assert np.mean(pixels > 0.0) > 0.02       # bright ink strokes


def test_omniglot_small1_can_be_the_meta_train_set(tfds_dir, omniglot):
    splits = load_class_dataset("omniglot", train_split="small1", data_dir=tfds_dir,
                                download=False)
    assert splits.train.num_classes == 136
    assert set(splits.train.class_ids) < set(omniglot.train.class_ids)
    assert set(splits.train.counts.numpy().tolist()) == {20}
    assert splits.test.class_ids == omniglot.test.class_ids


def test_class_lists_choose_the_classes_and_an_omitted_list_takes_the_rest(mnist, tfds_dir):
    splits = load_class_dataset("mnist", train_classes=[5, 1, 3], data_dir=tfds_dir,
                                download=False)
    assert splits.train.class_ids == (5, 1, 3)
    assert splits.test.class_ids == (0, 2, 4, 6, 7, 8, 9)
    np.testing.assert_array_equal(splits.train.class_images(1).numpy(),
                                  mnist.train.class_images(1).numpy())


def test_loading_the_same_dataset_again_uses_the_in_process_cache(tfds_dir):
    load = lambda: load_class_dataset("omniglot", train_split="small1", data_dir=tfds_dir,
                                      download=False)
    load()
    hits = tfds_datasets._load_pool.cache_info().hits
    load()
    assert tfds_datasets._load_pool.cache_info().hits == hits + 2   # train and test pools


def test_fashion_mnist_meta_train_is_classes_0_to_6_and_meta_test_7_to_9(tfds_dir):
    splits = load_class_dataset("fashion_mnist", data_dir=tfds_dir, download=False)
    assert splits.train.class_ids == tuple(range(7))
    assert splits.test.class_ids == (7, 8, 9)
    assert splits.train.counts.numpy().tolist() == [7000] * 7
    assert splits.test.class_names == ("Sneaker", "Bag", "Ankle boot")
    assert splits.train.image_shape == (28, 28, 1)
    tfds_datasets.clear_cache()   # free the memory for the other tests
