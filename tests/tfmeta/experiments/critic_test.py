"""The critic's regularization: affine and binarizing augmentation, AdamW weight decay, label
smoothing, checks."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import shared
from tfmeta.data import load_class_dataset
from tfmeta.eval.critic import evaluate_critic, load_critic, save_critic
from tfmeta.experiments.critic import (CriticConfig, critic_data, make_optimizer, random_affine,
                                       random_binarize, train_critic, training_batches)
from tfmeta.nets.resnet import build_critic

AFFINE = dict(max_shift=2.0, max_rotation=10.0, max_zoom=0.1)
# A tiny run on real MNIST: 256 training images, 4 steps of 64, a width-4 ResNet.
TINY = dict(data_dir=str(shared.tfds_dir()), download=False, epochs=1, batch_size=64, width=4,
            holdout_fraction=0.01, max_train_images=256)


@pytest.fixture(scope="module")
def mnist():
    return load_class_dataset("mnist", data_dir=shared.tfds_dir(), download=False)


def _coded_images(n=40, size=28):
    """Distinct random images in [-1, 1] and labels 0..n-1, so row y of a batch is images[y]."""
    images = np.random.default_rng(0).uniform(-1, 1, [n, size, size, 1]).astype(np.float32)
    return images, np.arange(n, dtype=np.int32)


def _epochs(config, images, labels, epochs=2):
    batches = training_batches(images, labels, config)
    return [[(x.numpy(), y.numpy()) for x, y in batches(e)] for e in range(1, epochs + 1)]


def _ink(images):
    """Ink mass of [-1, 1] images with background -1: (x + 1) / 2, [B, H, W]."""
    return (np.asarray(images)[..., 0] + 1.0) / 2.0


def test_affine_keeps_a_centred_blob_inside_and_moves_its_centroid_at_most_the_shift():
    rows, cols = np.mgrid[0:28, 0:28]
    blob = np.exp(-((rows - 13.5) ** 2 + (cols - 13.5) ** 2) / (2 * 2.5 ** 2))
    images = np.repeat((2 * blob - 1)[None, :, :, None], 64, 0).astype(np.float32)
    out = random_affine(images, tf.constant([0, 3]), **AFFINE).numpy()
    ink = _ink(out)
    mass = ink.sum((1, 2))
    # Rotation and zoom about the centre leave a centred blob's centroid in place: only the
    # shift (<= 2 px per axis) moves it; 0.05 px of slack for bilinear resampling.
    centroid = np.stack([(ink * rows).sum((1, 2)), (ink * cols).sum((1, 2))], 1) / mass[:, None]
    assert np.abs(centroid - 13.5).max() <= 2.0 + 0.05
    assert np.abs(centroid - 13.5).max() > 1.0             # it does move the images
    # Nothing leaves the frame: the mass only scales with the zoom (0.9^2 .. 1.1^2).
    ratio = mass / _ink(images).sum((1, 2))
    assert ratio.min() >= 0.9 ** 2 - 0.02 and ratio.max() <= 1.1 ** 2 + 0.02, ratio
    assert ink[:, [0, -1], :].max() < 1e-3 and ink[:, :, [0, -1]].max() < 1e-3
    # Pixels from outside the image take the background value -1 exactly.
    background = random_affine(-np.ones([8, 28, 28, 1], np.float32), tf.constant([0, 3]),
                               **AFFINE)
    np.testing.assert_array_equal(background.numpy(), -1.0)


def test_affine_is_deterministic_in_its_seed_and_differs_across_seeds():
    images, _ = _coded_images(16)
    first = random_affine(images, tf.constant([5, 1]), **AFFINE).numpy()
    np.testing.assert_array_equal(first, random_affine(images, tf.constant([5, 1]),
                                                       **AFFINE).numpy())
    for other in ([6, 1], [5, 2]):
        assert np.abs(first - random_affine(images, tf.constant(other),
                                            **AFFINE).numpy()).mean() > 0.1


def test_default_batches_are_the_raw_images_and_affine_changes_only_the_images():
    images, labels = _coded_images()
    plain = _epochs(CriticConfig(batch_size=16), images, labels)
    for epoch in plain:
        for x, y in epoch:
            np.testing.assert_array_equal(x, images[y])     # no op alters the batch
    augmented = _epochs(CriticConfig(batch_size=16, augment="affine"), images, labels)
    for plain_epoch, augmented_epoch in zip(plain, augmented):
        assert len(plain_epoch) == len(augmented_epoch) == 3
        for (_, y), (x_aug, y_aug) in zip(plain_epoch, augmented_epoch):
            np.testing.assert_array_equal(y_aug, y)          # same order, labels untouched
            assert x_aug.shape == images[y].shape
            assert np.abs(x_aug - images[y]).mean(axis=(1, 2, 3)).min() > 0.05
    # Deterministic for a config, new variants every epoch, other draws for another seed.
    again = _epochs(CriticConfig(batch_size=16, augment="affine"), images, labels)
    for epoch, epoch_again in zip(augmented, again):
        for (x, _), (x_again, _) in zip(epoch, epoch_again):
            np.testing.assert_array_equal(x, x_again)
    by_label = [dict(zip(np.concatenate([y for _, y in e]), np.concatenate([x for x, _ in e])))
                for e in augmented]
    assert min(np.abs(by_label[0][i] - by_label[1][i]).mean() for i in labels) > 0.05
    seeded = _epochs(CriticConfig(batch_size=16, augment="affine", seed=1), images, labels, 1)
    other = dict(zip(np.concatenate([y for _, y in seeded[0]]),
                     np.concatenate([x for x, _ in seeded[0]])))
    assert min(np.abs(by_label[0][i] - other[i]).mean() for i in labels) > 0.05


def test_defaults_train_with_plain_adam_and_no_regularization():
    config = CriticConfig()
    assert (config.augment, config.weight_decay, config.label_smoothing) == ("none", 0.0, 0.0)
    model = build_critic((28, 28, 1), 10, width=4, seed=0)
    assert type(make_optimizer(config, model, 10)) is keras.optimizers.Adam
    decayed = make_optimizer(CriticConfig(weight_decay=0.05), model, 10)
    assert type(decayed) is keras.optimizers.AdamW and decayed.weight_decay == 0.05


def test_heldout_unaugmented_settings_recorded_and_weight_decay_shrinks_only_the_kernels(mnist):
    """Two tiny trainings: plain, and with every regularization at once (affine, label
    smoothing, AdamW weight decay).

    The regularized one's held-out images are scored unaugmented and its report records its
    settings; its kernels shrank against the plain one's, its BatchNorm scales did not.
    """
    def kernel_norm(model):
        return sum(float(tf.reduce_sum(v ** 2)) for v in model.trainable_variables
                   if len(v.shape) >= 2)

    plain, plain_report = train_critic(CriticConfig(**TINY), splits=mnist)
    # lr * weight_decay = 2.5% per step at the start (cosine to 0 over 4 steps).
    config = CriticConfig(augment="affine", label_smoothing=0.1, weight_decay=25.0, **TINY)
    decayed, report = train_critic(config, splits=mnist)
    data = critic_data(mnist, config.holdout_fraction, config.seed)
    heldout = evaluate_critic(decayed, data.heldout_images, data.heldout_labels)
    assert report["heldout_accuracy"] == heldout["accuracy"]
    assert report["heldout_loss"] == pytest.approx(heldout["loss"], rel=1e-6)
    assert (plain_report["optimizer"], report["optimizer"]) == ("Adam", "AdamW")
    assert report["config"]["augment"] == "affine"
    assert report["config"]["label_smoothing"] == 0.1
    assert report["config"]["weight_decay"] == 25.0
    assert math.isfinite(report["history"][0]["train_loss"])
    assert kernel_norm(decayed) < 0.92 * kernel_norm(plain)
    # BatchNorm scales start at 1 and Adam moves them by <= ~lr per step: not decayed.
    gammas = [v.numpy() for v in decayed.trainable_variables if v.path.endswith("gamma")]
    assert gammas and max(np.abs(g - 1.0).max() for g in gammas) < 0.01


@pytest.mark.parametrize("setting, message", [
    ({"augment": "flip"}, "`augment`='flip' is not one of ['none', 'affine']"),
    ({"augment_shift": -1.0}, "`augment_shift` must be a finite number >= 0, got -1.0"),
    ({"augment_rotation": 181.0}, "`augment_rotation` must be in [0, 180], got 181.0"),
    ({"augment_zoom": 1.0}, "`augment_zoom` must be in [0, 1), got 1.0"),
    ({"augment_binarize": 1.5}, "`augment_binarize` must be in [0, 1], got 1.5"),
    ({"weight_decay": -0.1}, "`weight_decay` must be a finite number >= 0, got -0.1"),
    ({"weight_decay": float("nan")}, "`weight_decay` must be a finite number >= 0, got nan"),
    ({"label_smoothing": 1.0}, "`label_smoothing` must be in [0, 1), got 1.0"),
    ({"label_smoothing": "0.1"}, "`label_smoothing` must be in [0, 1), got '0.1'"),
])
def test_bad_regularization_settings_are_refused_in_one_line_naming_the_field(setting, message):
    with pytest.raises(ValueError) as error:
        CriticConfig(**setting)
    assert str(error.value) == message


def test_a_critic_saved_before_the_regularization_settings_still_loads(tmp_path):
    old_config = {"batch_size": 32, "data_dir": None, "dataset": "mnist", "download": False,
                  "epochs": 2, "holdout_fraction": 0.1, "image_size": None,
                  "learning_rate": 0.001, "max_train_images": 3000, "seed": 0, "width": 16}
    model = build_critic((28, 28, 1), 10, width=4, seed=0)
    save_critic(model, {"dataset": "mnist", "num_classes": 10, "class_ids": list(range(10)),
                        "image_shape": [28, 28, 1], "heldout_accuracy": 0.99,
                        "config": old_config}, tmp_path)
    loaded, info = load_critic(tmp_path)
    assert info["config"] == old_config and loaded(tf.zeros([1, 28, 28, 1])).shape == (1, 10)
    config = CriticConfig(**info["config"])          # old settings mean: no regularization
    assert (config.augment, config.weight_decay, config.label_smoothing) == ("none", 0.0, 0.0)


def test_binarize_thresholds_the_chosen_share_at_a_level_and_leaves_the_rest():
    images, labels = _coded_images(n=400)
    whole = random_binarize(images, tf.constant([0, 1]), fraction=1.0).numpy()
    assert set(np.unique(whole)) == {-1.0, 1.0}
    # Each image is cut at one level in [-0.5, 0.5]: every white pixel above every black one.
    for x, b in zip(images, whole):
        white, black = x[b > 0], x[b < 0]
        assert white.min() > black.max() and black.max() <= 0.5 and white.min() >= -0.5
    np.testing.assert_array_equal(
        random_binarize(images, tf.constant([0, 1]), fraction=0.0).numpy(), images)
    half = random_binarize(images, tf.constant([0, 1]), fraction=0.5).numpy()
    changed = np.abs(half - images).max(axis=(1, 2, 3)) > 0
    assert 150 < changed.sum() < 250
    np.testing.assert_array_equal(half[~changed], images[~changed])
    np.testing.assert_array_equal(
        half, random_binarize(images, tf.constant([0, 1]), fraction=0.5).numpy())
    # In training batches: on top of the affine, the affine's own draws unchanged.
    affine = _epochs(CriticConfig(batch_size=16, augment="affine"), images[:40], labels[:40], 1)
    both = _epochs(CriticConfig(batch_size=16, augment="affine", augment_binarize=0.5),
                   images[:40], labels[:40], 1)
    binarized = 0
    for (x_a, y_a), (x_b, y_b) in zip(affine[0], both[0]):
        np.testing.assert_array_equal(y_a, y_b)
        same = np.abs(x_a - x_b).max(axis=(1, 2, 3)) == 0
        assert set(np.unique(x_b[~same])) <= {-1.0, 1.0}
        binarized += int((~same).sum())
    assert 8 < binarized < 32
    alone = _epochs(CriticConfig(batch_size=16, augment_binarize=1.0), images[:40], labels[:40], 1)
    for x, y in alone[0]:
        assert set(np.unique(x)) == {-1.0, 1.0}
