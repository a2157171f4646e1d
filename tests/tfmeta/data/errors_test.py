"""Bad input stops early with a short error that names it and says how to fix it."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tfmeta.data import (ClassDataset, EpisodeSampler, MetaBatchSampler, load_class_dataset,
                         load_folder_dataset)


def test_unknown_dataset_name_is_a_value_error_suggesting_close_names(tfds_dir):
    with pytest.raises(ValueError, match=r"unknown dataset 'mnistt'.*did you mean 'mnist'"):
        load_class_dataset("mnistt", data_dir=tfds_dir, download=False)


def test_missing_data_without_download_is_a_short_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_class_dataset("mnist", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path) in message
    assert "`download`" in message and "`data_dir`" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no TFDS traceback


def test_class_id_out_of_range_names_the_id_and_the_valid_range(tfds_dir):
    with pytest.raises(ValueError, match=r"\[12\] in train_classes out of range.*0\.\.9"):
        load_class_dataset("mnist", train_classes=[0, 12], test_classes=[5], data_dir=tfds_dir,
                           download=False)


def test_class_id_absent_from_its_split_names_the_split(tfds_dir, omniglot):
    with pytest.raises(ValueError, match=r"test_classes \[5\] not in omniglot split 'test'"):
        load_class_dataset("omniglot", test_classes=[5], data_dir=tfds_dir, download=False)


def test_overlapping_train_and_test_classes_are_refused(tfds_dir):
    with pytest.raises(ValueError, match=r"overlap in \[2\]"):
        load_class_dataset("mnist", train_classes=[0, 1, 2], test_classes=[2, 3],
                           data_dir=tfds_dir, download=False)


def test_repeated_class_id_is_refused(mnist):
    with pytest.raises(ValueError, match=r"lists class ids \[1\] more than once"):
        mnist.train.split([1, 1, 2])


def test_dataset_without_default_split_asks_for_class_lists(tfds_dir):
    with pytest.raises(ValueError, match="pass train_classes"):
        load_class_dataset("cifar10", data_dir=tfds_dir, download=False)


def test_class_with_fewer_images_than_the_batch_is_refused_at_construction(omniglot):
    with pytest.raises(ValueError, match=r"only 20 images, fewer than batch_size = 32"):
        MetaBatchSampler(omniglot.train, tasks=4, inner_steps=1, batch_size=32)


def test_class_with_fewer_images_than_shots_plus_queries_is_refused(omniglot):
    with pytest.raises(ValueError, match=r"only 20 images, fewer than shots \+ queries = 21"):
        EpisodeSampler(omniglot.test, ways=5, shots=5, queries=16)


def test_more_tasks_than_classes_is_refused(mnist):
    with pytest.raises(ValueError, match=r"tasks asks for 4 distinct classes.*only 3"):
        MetaBatchSampler(mnist.test, tasks=4, inner_steps=1, batch_size=8)


def test_bad_sampler_counts_and_steps_are_refused(mnist):
    with pytest.raises(ValueError, match="`inner_steps` must be an integer >= 0, got -1"):
        MetaBatchSampler(mnist.test, tasks=2, inner_steps=-1, batch_size=8)
    sampler = MetaBatchSampler(mnist.test, tasks=2, inner_steps=1, batch_size=8)
    with pytest.raises(ValueError, match="step must be an integer"):
        sampler(1.5)


def test_class_index_out_of_range_or_batch_too_large_for_the_class(mnist):
    with pytest.raises(ValueError, match=r"class index 3 out of range.*0 \.\. 2"):
        mnist.test.class_images(3)
    with pytest.raises(ValueError, match=r"class index -1 out of range"):
        mnist.test.class_batches(-1, step=0, num_batches=1, batch_size=4)
    with pytest.raises(ValueError, match=r"has 7293 images, fewer than batch_size=8000"):
        mnist.test.class_batches(0, step=0, num_batches=1, batch_size=8000)


def test_missing_or_empty_image_folder_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_folder_dataset(tmp_path / "nope")
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(FileNotFoundError, match="no class sub-folder holding images"):
        load_folder_dataset(tmp_path)


def test_float_images_outside_minus_one_one_are_refused():
    with pytest.raises(ValueError, match=r"must be in \[-1, 1\].*x / 127.5 - 1"):
        ClassDataset.from_labelled_images(np.full((2, 4, 4, 1), 255.0), [0, 1])


def test_missing_data_with_no_network_is_one_connection_error_at_once(tmp_path, monkeypatch):
    # A host under .invalid never resolves (RFC 6761): the check TFDS's host gets on a machine
    # with no network, without depending on this machine's network.
    from tfmeta.data import tfds_datasets
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tfds_datasets, "DOWNLOAD_HOST", "tfmeta-test.invalid")
    start = time.monotonic()
    with pytest.raises(ConnectionError) as info:
        load_class_dataset("mnist", data_dir=tmp_path, download=True)
    assert time.monotonic() - start < 60   # TFDS's own retries take minutes
    message = str(info.value)
    assert str(tmp_path) in message and "`data_dir`" in message and "mnist/" in message
    assert "tfmeta-test.invalid does not resolve" in message and "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no TFDS traceback
    assert not list(tmp_path.rglob("*.tfrecord*"))   # nothing downloaded or prepared
    # Behind a proxy the proxy resolves names: the check steps aside for TFDS.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert tfds_datasets._no_network("tfmeta-test.invalid") is None
    monkeypatch.delenv("HTTPS_PROXY")
    assert tfds_datasets._no_network("localhost") is None   # a name that resolves: no verdict
    # Files TFDS may prepare from without a network (a downloads/ folder): the check steps aside.
    (tmp_path / "downloads").mkdir()
    builder = tfds_datasets._builder("mnist", tmp_path)
    assert tfds_datasets._check_prepared(builder, "mnist", tmp_path, True) is None
