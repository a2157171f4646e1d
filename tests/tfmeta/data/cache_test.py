"""The disk cache of prepared datasets (tfmeta.data.cache): hits, misses, invalidation, failures."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from tfmeta.data import cache, clear_cache, load_class_dataset

SMALL = dict(train_split="test[:300]", test_split="test[:300]", download=False)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TFMETA_CACHE_DIR", str(tmp_path / "cache"))
    clear_cache()
    yield tmp_path / "cache"
    clear_cache()


def _entries(cache_dir) -> list[str]:
    folder = cache_dir / "datasets"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def test_arrays_are_computed_once_then_read_back_and_a_damaged_entry_is_computed_again(
        cache_dir):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "names": np.array(["a", "b"])}

    first = cache.cached_arrays("k", compute)
    second = cache.cached_arrays("k", compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(second["x"], first["x"])
    assert second["x"].dtype == np.float32 and second["names"].tolist() == ["a", "b"]
    (cache_dir / "datasets" / "k.npz").write_bytes(b"not a zip")
    again = cache.cached_arrays("k", compute)
    assert len(calls) == 2
    np.testing.assert_array_equal(again["x"], first["x"])
    assert cache.cached_arrays("k", compute)["names"].tolist() == ["a", "b"]
    assert len(calls) == 2                      # the damaged entry was rewritten


def test_off_and_an_unwritable_directory_compute_every_time_without_an_error(tmp_path,
                                                                            monkeypatch):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.ones(3)}

    monkeypatch.setenv("TFMETA_CACHE_DIR", "off")
    assert cache.cache_dir() is None
    cache.cached_arrays("k", compute)
    cache.cached_arrays("k", compute)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("TFMETA_CACHE_DIR", str(blocker))   # a file: the directory can't be made
    np.testing.assert_array_equal(cache.cached_arrays("k", compute)["x"], np.ones(3))
    assert len(calls) == 3


def test_a_loaded_dataset_is_read_from_its_entry_until_its_files_change(cache_dir, tmp_path,
                                                                         tfds_dir):
    decoded = load_class_dataset("mnist", data_dir=tfds_dir, **SMALL)
    (entry,) = _entries(cache_dir)                 # one split for both: one entry
    assert entry.startswith("mnist-")
    # The entry is what the next load reads: mark its images and load again.
    path = cache_dir / "datasets" / entry
    with np.load(path) as stored:
        arrays = {k: stored[k] for k in stored.files}
    assert arrays["images"].shape == (300, 28, 28, 1) and arrays["labels"].shape == (300,)
    arrays["images"] = np.full_like(arrays["images"], 0.5)
    np.savez(path, **arrays)
    clear_cache()
    marked = load_class_dataset("mnist", data_dir=tfds_dir, **SMALL)
    assert marked.train.class_ids == decoded.train.class_ids
    np.testing.assert_array_equal(marked.train.counts.numpy(), decoded.train.counts.numpy())
    assert float(marked.train.class_images(0).numpy().min()) == 0.5
    # The same files elsewhere with new times: another key, decoded again, the real images.
    copy = tmp_path / "tfds"
    shutil.copytree(os.path.join(tfds_dir, "mnist"), copy / "mnist",
                    copy_function=shutil.copy)     # copy (not copy2): new modification times
    clear_cache()
    fresh = load_class_dataset("mnist", data_dir=str(copy), **SMALL)
    assert len(_entries(cache_dir)) == 2
    np.testing.assert_array_equal(fresh.train.class_images(0).numpy(),
                                  decoded.train.class_images(0).numpy())
    assert float(fresh.train.class_images(0).numpy().min()) == -1.0
