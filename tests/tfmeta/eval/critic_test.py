"""The ResNet critic: architecture (nets), data split and training (experiments), save/load (eval)."""

from __future__ import annotations

import functools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import shared
from tfmeta.data import ClassDataset, ClassDatasetSplits, load_class_dataset
from tfmeta.eval import critic as critic_lib
from tfmeta.eval.critic import evaluate_critic, labels_for_class_ids, load_critic, save_critic
from tfmeta.experiments.critic import CriticConfig, critic_data, heldout_count, train_critic
from tfmeta.nets.resnet import build_critic, critic_features

# Image i of the coded dataset has every pixel equal to -(i + 1) / SCALE, so an
# image's number can be read back from any of its pixels.
SCALE = 1000.0
COUNTS = {3: 20, 7: 13, 11: 2, 12: 1, 20: 31}   # class id -> number of images


def _coded_splits() -> tuple[ClassDatasetSplits, np.ndarray]:
    labels = np.random.default_rng(0).permutation(
        np.repeat(list(COUNTS), list(COUNTS.values())))
    codes = -(np.arange(len(labels), dtype=np.float32) + 1) / SCALE
    images = np.broadcast_to(codes[:, None, None, None], (len(labels), 4, 4, 1))
    pool = ClassDataset.from_labelled_images(images, labels, name="coded")
    return pool.split([20, 3, 12], [11, 7]), labels


def _decode(images: np.ndarray) -> np.ndarray:
    return np.rint(-images[:, 0, 0, 0] * SCALE).astype(np.int64) - 1


def test_critic_has_four_residual_blocks_and_one_logit_per_class():
    model = build_critic((28, 28, 1), num_classes=1623, width=8, seed=0)
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert [layer.name for layer in adds] == [f"block{i}_add" for i in range(1, 5)]
    convs = [layer for layer in model.layers
             if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3)]
    assert len(convs) == 1 + 4 * 2          # stem + two 3x3 convs per block
    assert model(tf.zeros([3, 28, 28, 1])).shape == (3, 1623)
    assert model.get_layer("block4_out").output.shape[1:] == (4, 4, 32)


def test_critic_features_share_the_critics_layers():
    model = build_critic((28, 28, 1), num_classes=10, width=8, seed=0)
    features = critic_features(model)
    x = tf.random.stateless_uniform([2, 28, 28, 1], [1, 2], -1.0, 1.0)
    assert features(x).shape == (2, 32)
    dense = model.get_layer("features")
    assert {id(v) for v in features.trainable_variables} <= {id(v) for v in
                                                              model.trainable_variables}
    logits = model.get_layer("logits")(features(x))
    np.testing.assert_allclose(logits.numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)
    assert dense.units == 32


def test_build_critic_rejects_bad_shapes_naming_the_value():
    with pytest.raises(ValueError, match=r"\(28, 28\)"):
        build_critic((28, 28), 10)
    with pytest.raises(ValueError, match="num_classes.*1"):
        build_critic((28, 28, 1), 1)


def test_critic_data_holds_every_image_exactly_once_with_disjoint_heldout_parts():
    splits, labels = _coded_splits()
    data = critic_data(splits, holdout_fraction=0.25, seed=3)
    assert data.class_ids.tolist() == sorted(COUNTS)       # train and test classes merged
    train, held = _decode(data.train_images), _decode(data.heldout_images)
    everything = np.concatenate([train, held])
    assert sorted(everything.tolist()) == list(range(len(labels)))   # each image once
    for label, cid in enumerate(data.class_ids):
        train_c = set(train[data.train_labels == label].tolist())
        held_c = set(held[data.heldout_labels == label].tolist())
        assert not train_c & held_c
        assert train_c | held_c == set(np.flatnonzero(labels == cid).tolist())
        assert len(held_c) == heldout_count(COUNTS[int(cid)], 0.25)
        assert train_c, f"class {cid} kept no training image"
    np.testing.assert_array_equal(data.labels_of(splits.test), [2, 1])   # ids 11, 7


def test_critic_data_split_is_deterministic_and_independent_of_other_classes():
    splits, _ = _coded_splits()
    a = critic_data(splits, 0.3, seed=5)
    b = critic_data(splits, 0.3, seed=5)
    np.testing.assert_array_equal(_decode(a.heldout_images), _decode(b.heldout_images))
    only_test = critic_data(splits.test, 0.3, seed=5)
    label_a = labels_for_class_ids(a.class_ids, [7])[0]
    label_t = labels_for_class_ids(only_test.class_ids, [7])[0]
    np.testing.assert_array_equal(_decode(a.heldout_images[a.heldout_labels == label_a]),
                                  _decode(only_test.heldout_images[
                                      only_test.heldout_labels == label_t]))
    other = critic_data(splits, 0.3, seed=6)
    assert set(_decode(other.heldout_images)) != set(_decode(a.heldout_images))


def test_heldout_count_keeps_a_training_image_and_holds_out_one_if_positive():
    assert [heldout_count(n, 0.1) for n in (1, 2, 3, 20, 7000)] == [0, 1, 1, 2, 700]
    assert heldout_count(20, 0.0) == 0
    assert heldout_count(4, 0.9) == 3


def test_unknown_class_ids_and_bad_settings_raise_with_the_value():
    with pytest.raises(ValueError, match=r"\[42\]"):
        labels_for_class_ids([0, 1, 2], [1, 42])
    splits, _ = _coded_splits()
    with pytest.raises(ValueError, match="1.5"):
        critic_data(splits, holdout_fraction=1.5)
    for bad, pattern in (({"epochs": 0}, "epochs.*0"), ({"learning_rate": -1.0}, "-1.0"),
                         ({"holdout_fraction": 1.0}, "holdout_fraction.*1.0"),
                         ({"download": "no"}, "'no'"), ({"max_train_images": 0}, "0")):
        with pytest.raises(ValueError, match=pattern):
            CriticConfig(**bad)


@functools.lru_cache(maxsize=None)
def trained_critic() -> tuple[keras.Model, dict, list]:
    """A critic trained briefly on a 3000-image subset of real MNIST (~10 s), once per process.

    ``(model, report, progress calls)``. Held-out accuracy of this budget over seeds 0..3:
    0.92 - 0.95 (chance: 0.1). generation_test scores with it too (without changing it), so a
    process that runs both modules trains it once.
    """
    mnist = load_class_dataset("mnist", data_dir=shared.tfds_dir(), download=False)
    calls = []
    config = CriticConfig(epochs=2, batch_size=32, width=16, holdout_fraction=0.02,
                          max_train_images=3000, seed=0)
    model, report = train_critic(config, lambda *args: calls.append(args), splits=mnist)
    return model, report, calls


@pytest.fixture(scope="module")
def trained():
    return trained_critic()


def test_short_training_on_real_mnist_beats_chance_clearly(trained):
    _, report, _ = trained
    assert report["num_classes"] == 10 and report["class_ids"] == list(range(10))
    assert report["num_train_images"] == 3000
    assert report["num_heldout_images"] == 1400          # 2% of each digit's ~7000
    assert report["heldout_accuracy"] > 0.9, report["history"]
    assert report["image_shape"] == [28, 28, 1]
    json.dumps(report)                                   # JSON-able as it is


def test_progress_is_called_every_step_and_at_each_epoch_end(trained):
    _, _, calls = trained
    steps = -(-3000 // 32)
    assert len(calls) == 2 * (steps + 1)
    assert [c[1] for c in calls[:steps + 1]] == list(range(1, steps + 1)) + [steps]
    assert {c[2] for c in calls} == {steps}
    assert "heldout_accuracy" in calls[steps][3] and "heldout_accuracy" not in calls[0][3]


def test_save_load_round_trip_predicts_identically(trained, mnist, tmp_path):
    model, report, _ = trained
    save_critic(model, report, tmp_path / "critic")
    loaded, info = load_critic(tmp_path / "critic")
    for key in ("dataset", "num_classes", "heldout_accuracy", "class_ids", "image_shape"):
        assert info[key] == report[key]
    x = mnist.test.class_images(1)[:64]
    np.testing.assert_allclose(loaded(x, training=False).numpy(),
                               model(x, training=False).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(critic_features(loaded)(x).numpy(),
                               critic_features(model)(x).numpy(), rtol=1e-6, atol=1e-6)
    assert sorted(p.name for p in (tmp_path / "critic").iterdir()) == ["critic.json",
                                                                       "critic.keras"]


def test_evaluate_critic_agrees_with_argmax_of_the_logits(trained, mnist):
    model, _, _ = trained
    x = mnist.test.class_images(2)[:100]         # digit 9: critic label 9
    y = np.full(100, 9, np.int32)
    scores = evaluate_critic(model, x, y, batch_size=32)
    expected = np.mean(np.argmax(model(x, training=False).numpy(), -1) == 9)
    assert scores["accuracy"] == pytest.approx(expected)
    assert scores["loss"] > 0


def test_load_critic_from_a_directory_without_critic_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="critic.keras, critic.json"):
        load_critic(tmp_path)
    (tmp_path / critic_lib.MODEL_FILE).write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="missing critic.json"):
        load_critic(tmp_path)
