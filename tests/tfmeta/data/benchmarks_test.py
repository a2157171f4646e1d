"""The few-shot benchmarks' loaders on stand-ins written in the files' exact formats.

mini-ImageNet (pickle cache and CSV + images), tiered-ImageNet (PNG pickles
and decoded .npz), CIFAR-FS and FC100 (CIFAR-100's python folder and
archive), CUB-200-2011 (folder and archive), each with a few classes of a few
small images (``benchmark_files``): the classes of each split, the image
shape and range, episodes, and the one-line refusal of a missing or corrupt
file that names the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.tfmeta.data import benchmark_files as files
from tfmeta.data import (ClassDataset, EpisodeSampler, load_benchmark, load_cifar_fs, load_cub,
                         load_fc100, load_mini_imagenet, load_tiered_imagenet)
from tfmeta.data import cifar100, cub
from tfmeta.data.files import md5_of


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFMETA_CACHE_DIR", str(tmp_path / "cache"))


def one_line_naming(error: BaseException, name: str) -> str:
    message = str(error)
    assert "\n" not in message, message
    assert name in message, message
    return message


def check_images(dataset: ClassDataset, size: int) -> None:
    assert dataset.images.dtype == tf.uint8            # a quarter of float32's memory
    assert dataset.image_shape == (size, size, 3)
    x = dataset.class_images(0).numpy()
    assert x.dtype == np.float32 and x.shape[1:] == (size, size, 3)
    assert -1.0 <= x.min() < x.max() <= 1.0


def check_episode(dataset: ClassDataset, size: int) -> None:
    episode = EpisodeSampler(dataset, ways=2, shots=1, queries=2, seed=3)(0)
    assert episode.support_images.shape == (2, size, size, 3)
    assert episode.query_images.shape == (4, size, size, 3)
    assert episode.support_images.dtype == tf.float32
    x = episode.query_images.numpy()
    assert -1.0 <= x.min() and x.max() <= 1.0
    again = tf.function(lambda s: EpisodeSampler(dataset, ways=2, shots=1, queries=2,
                                                 seed=3)(s))(tf.constant(0))
    np.testing.assert_array_equal(again.query_images.numpy(), x)


# ----------------------------------------------------------------- uint8 storage
def test_uint8_storage_draws_the_same_episodes_as_float32_storage():
    images = files.class_images(1, 6, 8, 8)
    images = np.concatenate([images, files.class_images(2, 6, 8, 8)])
    labels = np.repeat([4, 9], 6)
    as_float = ClassDataset.from_labelled_images(images, labels)
    as_uint8 = ClassDataset.from_labelled_images(images, labels, keep_uint8=True)
    assert as_float.images.dtype == tf.float32 and as_uint8.images.dtype == tf.uint8
    for seed in (0, 1):
        a = EpisodeSampler(as_float, ways=2, shots=2, queries=3, seed=seed)(5)
        b = EpisodeSampler(as_uint8, ways=2, shots=2, queries=3, seed=seed)(5)
        np.testing.assert_allclose(a.support_images.numpy(), b.support_images.numpy(), atol=1e-6)
        np.testing.assert_allclose(a.query_images.numpy(), b.query_images.numpy(), atol=1e-6)
    np.testing.assert_allclose(as_float.class_batches(1, 2, 2, 3).numpy(),
                               as_uint8.class_batches(1, 2, 2, 3).numpy(), atol=1e-6)
    np.testing.assert_allclose(as_float.select([9]).class_images(0).numpy(),
                               as_uint8.select([9]).class_images(0).numpy(), atol=1e-6)


# ----------------------------------------------------------------- mini-ImageNet
def test_mini_imagenet_pickles_give_the_split_classes_as_84x84_rgb(tmp_path):
    root = files.write_mini_pickles(tmp_path / "mini")
    splits = load_mini_imagenet(root)
    assert splits.train.num_classes == 3 and splits.test.num_classes == 2
    assert splits.train.class_names == tuple(files.mini_wnid("train", c) for c in range(3))
    assert splits.test.class_ids == (80, 81)              # after 64 train + 16 val ids
    assert set(splits.train.counts.numpy().tolist()) == {6}
    check_images(splits.train, 84)
    check_episode(splits.test, 84)
    val = load_mini_imagenet(root, held_out="val").test
    assert val.class_ids == (64, 65) and val.class_names[0] == files.mini_wnid("val", 0)
    # the pixels are the file's, scaled: 0 -> -1, 255 -> +1
    expected = files.class_images(0, 6, 84, 84)[0].astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(splits.train.class_images(0).numpy()[0], expected, atol=1e-6)


def test_mini_imagenet_csvs_with_images_give_the_same_classes_resized(tmp_path):
    root = files.write_mini_csv(tmp_path / "mini")
    splits = load_mini_imagenet(root)
    assert splits.train.class_names == tuple(files.mini_wnid("train", c) for c in range(3))
    assert splits.test.class_ids == (80, 81)
    assert set(splits.train.counts.numpy().tolist()) == {5}
    check_images(splits.train, 84)
    check_episode(splits.train, 84)
    small = load_benchmark("mini_imagenet", root, image_size=32, held_out="val")
    assert small.test.num_classes == 2
    check_images(small.test, 32)


def test_mini_imagenet_refuses_missing_truncated_and_html_files_in_one_line(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_mini_imagenet(tmp_path)
    one_line_naming(e.value, "mini-imagenet-cache-train.pkl")
    root = files.write_mini_pickles(tmp_path / "mini")
    path = root / "mini-imagenet-cache-test.pkl"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ValueError) as e:
        load_mini_imagenet(root)
    one_line_naming(e.value, "mini-imagenet-cache-test.pkl")
    path.write_bytes(b"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning")
    with pytest.raises(ValueError) as e:
        load_mini_imagenet(root)
    assert "HTML page" in one_line_naming(e.value, "mini-imagenet-cache-test.pkl")
    csv_root = files.write_mini_csv(tmp_path / "csv")
    images = sorted((csv_root / "images").iterdir())
    images[3].write_bytes(images[3].read_bytes()[:40])     # a JPEG cut short
    with pytest.raises(ValueError) as e:
        load_mini_imagenet(csv_root)
    one_line_naming(e.value, images[3].name)
    images[0].unlink()
    with pytest.raises(FileNotFoundError) as e:
        load_mini_imagenet(csv_root)
    one_line_naming(e.value, images[0].name)


# --------------------------------------------------------------- tiered-ImageNet
@pytest.mark.parametrize("npz", [False, True])
def test_tiered_imagenet_png_pickles_and_npz_give_the_split_classes(tmp_path, npz):
    root = files.write_tiered(tmp_path, npz=npz)
    splits = load_tiered_imagenet(root)
    assert splits.train.num_classes == 3 and splits.test.num_classes == 2
    assert splits.test.class_ids == (448, 449)            # after 351 train + 97 val ids
    assert splits.test.class_names == (files.mini_wnid("test", 0), files.mini_wnid("test", 1))
    check_images(splits.train, 84)
    check_episode(splits.train, 84)
    expected = files.class_images(10, 4, 84, 84)[0].astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(load_tiered_imagenet(root, held_out="val").test.class_images(
        0).numpy()[0], expected, atol=1e-6)                # PNG is lossless


def test_tiered_imagenet_refuses_missing_and_truncated_files_in_one_line(tmp_path):
    root = files.write_tiered(tmp_path)
    (root / "tiered-imagenet" / "test_labels.pkl").unlink()
    with pytest.raises(FileNotFoundError) as e:
        load_tiered_imagenet(root)
    one_line_naming(e.value, "test_labels.pkl")
    path = root / "tiered-imagenet" / "train_images_png.pkl"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError) as e:
        load_tiered_imagenet(root, held_out="val")
    one_line_naming(e.value, "train_images_png.pkl")


# ----------------------------------------------------------------- CIFAR-FS, FC100
@pytest.fixture
def published_md5(monkeypatch):
    """Makes the stand-in's files the 'published' ones: ``published_md5(module, {name: path})``."""
    def use(module, paths):
        for name, path in paths.items():
            monkeypatch.setitem(module.CHECKSUMS, name, md5_of(path))
    return use


def test_cifar_fs_and_fc100_take_their_papers_classes_from_the_python_folder(tmp_path,
                                                                             published_md5):
    root = files.write_cifar100(tmp_path)
    folder = root / "cifar-100-python"
    published_md5(cifar100, {n: folder / n for n in ("train", "test", "meta")})
    fs = load_cifar_fs(root)
    assert set(fs.train.class_names) == {"dolphin", "aquarium_fish", "orchid", "bear", "hamster",
                                         "bee"}
    assert set(fs.test.class_names) == {"whale", "poppy"}
    assert set(load_cifar_fs(root, held_out="val").test.class_names) == {"beaver", "lamp"}
    assert fs.train.class_ids == tuple(sorted(files.CIFAR_FINE.index(n)
                                              for n in fs.train.class_names))
    assert set(fs.train.counts.numpy().tolist()) == {6}   # train and test files merged
    check_images(fs.train, 32)
    check_episode(fs.test, 32)
    np.testing.assert_allclose(
        fs.test.class_images(fs.test.class_names.index("whale")).numpy()[0],
        files.class_images(files.CIFAR_FINE.index("whale"), 6, 32, 32)[0] / 127.5 - 1.0,
        atol=1e-6)                                        # planes -> HWC, right way round
    fc = load_fc100(root)
    assert set(fc.train.class_names) == {"aquarium_fish", "orchid", "poppy", "lamp"}
    assert set(fc.test.class_names) == {"dolphin", "beaver", "whale", "bee"}
    assert set(load_fc100(root, held_out="val").test.class_names) == {"bear", "hamster"}
    big = load_benchmark("fc100", root, image_size=40)
    check_images(big.train, 40)


def test_cifar100_archive_is_read_in_place_and_checked_against_its_md5(tmp_path,
                                                                       published_md5):
    root = files.write_cifar100(tmp_path, archive=True)
    archive = root / "cifar-100-python.tar.gz"
    for name in ("train", "test", "meta"):
        (root / "cifar-100-python" / name).unlink()
    (root / "cifar-100-python").rmdir()
    with pytest.raises(ValueError) as e:                  # the stand-in is not the real file
        load_cifar_fs(root)
    message = one_line_naming(e.value, "cifar-100-python.tar.gz")
    assert "eb9058c3a382ffc7106e4002c42a8d85" in message and "MD5" in message
    published_md5(cifar100, {"cifar-100-python.tar.gz": archive})
    splits = load_cifar_fs(root)
    assert splits.train.num_classes == 6 and splits.test.num_classes == 2
    check_episode(splits.train, 32)
    archive.write_bytes(archive.read_bytes()[:300])        # cut short, checksum matching
    published_md5(cifar100, {"cifar-100-python.tar.gz": archive})
    with pytest.raises(ValueError) as e:
        load_fc100(root)
    one_line_naming(e.value, "cifar-100-python.tar.gz")
    archive.unlink()
    with pytest.raises(FileNotFoundError) as e:
        load_fc100(root)
    assert "cs.toronto.edu" in one_line_naming(e.value, "cifar-100-python.tar.gz")


def test_cifar100_folder_with_a_changed_file_is_refused_by_its_md5(tmp_path):
    root = files.write_cifar100(tmp_path)
    with pytest.raises(ValueError) as e:
        load_cifar_fs(root)
    assert "16019d7e3df5f24257cddd939b257f8d" in one_line_naming(e.value, "train")


# ---------------------------------------------------------------------------- CUB
def test_cub_folder_splits_classes_by_number_as_chen_et_al(tmp_path):
    assert [cub.split_of_class(n) for n in (1, 2, 3, 4, 199, 198, 200)] == [
        "train", "val", "train", "test", "train", "val", "test"]
    assert sum(cub.split_of_class(n) == "train" for n in range(1, 201)) == 100
    assert sum(cub.split_of_class(n) == "test" for n in range(1, 201)) == 50
    root = files.write_cub(tmp_path)
    splits = load_cub(root)
    assert splits.train.class_ids == (1, 3, 5) and splits.test.class_ids == (4, 8)
    assert splits.train.class_names[0] == "001.Bird_001"
    assert load_cub(root / "CUB_200_2011", held_out="val").test.class_ids == (2, 6)
    check_images(splits.train, 84)                        # grayscale and 50x70 -> 84x84x3
    check_episode(splits.test, 84)


def test_cub_archive_is_checked_against_its_md5_and_read_in_place(tmp_path, published_md5):
    root = files.write_cub(tmp_path / "a", archive=True)
    archive = root / "CUB_200_2011.tgz"
    plain = tmp_path / "b"
    plain.mkdir()
    archive.rename(plain / archive.name)
    archive = plain / archive.name
    with pytest.raises(ValueError) as e:
        load_cub(plain)
    assert "97eceeb196236b17998738112f37df78" in one_line_naming(e.value, "CUB_200_2011.tgz")
    published_md5(cub, {"CUB_200_2011.tgz": archive})
    from_archive = load_cub(plain)
    from_folder = load_cub(root)
    assert from_archive.train.class_ids == from_folder.train.class_ids
    np.testing.assert_array_equal(from_archive.test.images.numpy(),
                                  from_folder.test.images.numpy())
    with pytest.raises(FileNotFoundError) as e:
        load_cub(tmp_path / "nowhere")
    assert "data.caltech.edu" in one_line_naming(e.value, "CUB_200_2011.tgz")
    (root / "CUB_200_2011" / "images.txt").unlink()
    with pytest.raises(FileNotFoundError) as e:
        load_cub(root)
    one_line_naming(e.value, "images.txt")


def test_benchmark_loaders_refuse_a_bad_held_out_and_name():
    with pytest.raises(ValueError, match="held_out"):
        load_cub(Path("."), held_out="validation")
    with pytest.raises(ValueError, match="name"):
        load_benchmark("imagenet", ".")
