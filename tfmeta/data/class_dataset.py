"""Class-per-task datasets: all images of a set of classes, held in memory.

A :class:`ClassDataset` is the task distribution of class-conditional
meta-learning: task ``c`` is "the images of class ``c``". The images of every
class live in one padded float32 tensor ``images [num_classes, max_count, H,
W, C]`` (values in ``[-1, 1]``) with the number of images of each class in
``counts``; slots ``i >= counts[c]`` are zero padding, never sampled.

Large RGB datasets (mini-/tiered-ImageNet, CUB) are kept as uint8 instead
(``from_labelled_images(..., keep_uint8=True)``), a quarter of the memory, in
host memory; :func:`pixels` turns what a sampler gathers into float32 ``[-1,
1]`` (``x / 127.5 - 1``), so every batch, episode and ``class_images`` is
float32 either way.

The samplers (:mod:`tfmeta.data.samplers`) draw batches with stateless ops in
``tf.function``: a batch is a pure function of ``(seed, step)``. Two kinds of
class identity are kept apart:

* the *class index* ``0 .. num_classes - 1``: the position in ``images``, what
  samplers and :meth:`ClassDataset.class_batches` take;
* the *class id*: the label in the source (the TFDS label, e.g. 964..1622 for
  Omniglot's evaluation characters, or the digit for MNIST), in
  ``class_ids[index]``, with a readable name in ``class_names[index]``.
  :meth:`ClassDataset.select` and :meth:`ClassDataset.split` take class ids.

Example:
    >>> ds = ClassDataset.from_labelled_images(images_uint8, labels)
    >>> batches = ds.class_batches(3, step=0, num_batches=2, batch_size=16)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from tfmeta.data.class_ids import check_disjoint, class_id_list, describe_ids
from tfmeta.data.pixels import padded_by_label, pixels, scaled, storage_device, store
from tfmeta.data.sampling import (SALT_CLASS, check_class_index, check_count,
                                  sample_without_replacement, step_key)


@dataclasses.dataclass(frozen=True, eq=False)
class ClassDataset:
    """Images grouped by class: one class is one task.

    Attributes:
      images: float32 ``[num_classes, max_count, H, W, C]`` in ``[-1, 1]``, or
        uint8 in ``0..255`` (read it through :func:`pixels`);
        ``images[c, :counts[c]]`` are the images of class index ``c``, the rest
        is zero padding.
      counts: int32 ``[num_classes]``, the number of images of each class.
      class_ids: the source label of each class index (TFDS label, folder
        number).
      class_names: a readable name of each class index.
      name: where the data came from, for messages (e.g. ``"mnist"``).

    Example:
        >>> ds = load_class_dataset("mnist", download=False).train
        >>> ds.class_images(0).shape          # every image of digit 0
        TensorShape([6903, 28, 28, 1])
    """

    images: tf.Tensor
    counts: tf.Tensor
    class_ids: tuple[int, ...]
    class_names: tuple[str, ...]
    name: str = ""

    def __post_init__(self):
        if self.images.shape.rank != 5 or self.images.dtype not in (tf.float32, tf.uint8):
            raise ValueError(
                f"ClassDataset.images must be float32 (or uint8) [classes, max_count, H, W, C], "
                f"got {self.images.dtype.name} of shape {self.images.shape}; build it with "
                f"ClassDataset.from_labelled_images(images, labels)")
        num = self.images.shape[0]
        if self.counts.shape != (num,) or self.counts.dtype != tf.int32:
            raise ValueError(
                f"ClassDataset.counts must be int32 [{num}], got {self.counts.dtype.name} "
                f"of shape {self.counts.shape}")
        if len(self.class_ids) != num or len(self.class_names) != num:
            raise ValueError(
                f"ClassDataset has {num} classes but {len(self.class_ids)} class_ids and "
                f"{len(self.class_names)} class_names; give one id and one name per class")

    # ------------------------------------------------------------------ info
    @property
    def num_classes(self) -> int:
        """Number of classes (= tasks)."""
        return int(self.images.shape[0])

    @property
    def max_count(self) -> int:
        """Images in the largest class (the padded length of ``images``)."""
        return int(self.images.shape[1])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one image."""
        return tuple(int(d) for d in self.images.shape[2:])

    @property
    def num_images(self) -> int:
        """Total number of images over all classes."""
        return int(np.sum(self.counts.numpy()))

    def __repr__(self) -> str:
        return (f"ClassDataset(name={self.name!r}, num_classes={self.num_classes}, "
                f"image_shape={self.image_shape}, num_images={self.num_images})")

    # ----------------------------------------------------------- construction
    @classmethod
    def from_labelled_images(
        cls,
        images: Any,
        labels: Any,
        *,
        class_names: Sequence[str] | Mapping[int, str] | None = None,
        name: str = "",
        keep_uint8: bool = False,
    ) -> "ClassDataset":
        """Groups labelled images ``[n, H, W, C]`` by label into a ClassDataset.

        Args:
          images: array-like ``[n, H, W, C]``. Integer images (uint8, uint16) are
            scaled from ``[0, dtype max]`` to ``[-1, 1]`` float32; float images
            must already be in ``[-1, 1]``.
          labels: array-like ``[n]`` of integer labels; each distinct label is a
            class, class indices follow the sorted labels.
          class_names: names indexed by label (a sequence over all labels, or a
            mapping); default ``str(label)``.
          name: a name for messages.
          keep_uint8: store uint8 images as they are (in host memory, a
            quarter of float32's), converted to ``[-1, 1]`` when drawn.

        Returns:
          A ClassDataset whose ``class_ids`` are the sorted distinct labels. The
          images of a class keep their input order.

        Example:
            >>> ds = ClassDataset.from_labelled_images(x_uint8, y, name="digits")
        """
        images = np.asarray(images)
        labels = np.asarray(labels).reshape(-1)
        if images.ndim != 4:
            raise ValueError(
                f"images must be [n, H, W, C] (channels last), got shape {images.shape}; "
                f"add a channel axis with images[..., None] for grayscale")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"got {images.shape[0]} images but {labels.shape[0]} labels; give one "
                f"label per image")
        if images.shape[0] == 0:
            raise ValueError(f"dataset {name!r} has no images")
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
        images = scaled(images, keep_uint8=keep_uint8)
        padded, ids, counts = padded_by_label(images, labels)
        if class_names is None:
            names = tuple(str(i) for i in ids)
        else:
            names = tuple(str(class_names[int(i)]) for i in ids)
        stored = store(padded)
        del padded
        return cls(images=stored,
                   counts=tf.constant(counts, tf.int32),
                   class_ids=tuple(int(i) for i in ids), class_names=names, name=name)

    # --------------------------------------------------------- class subsets
    def select(self, class_ids: Sequence[int], *, what: str = "class_ids") -> "ClassDataset":
        """Returns the dataset restricted to ``class_ids`` (in that order).

        Args:
          class_ids: source class ids (see ``self.class_ids``), not indices.
          what: how to call the argument in error messages.

        Example:
            >>> digits_0_to_6 = pool.select(range(7))
        """
        ids = class_id_list(class_ids, what)
        position = {cid: i for i, cid in enumerate(self.class_ids)}
        missing = [cid for cid in ids if cid not in position]
        if missing:
            raise ValueError(
                f"{what} {missing} not in {self.name or 'the dataset'}, whose class ids are "
                f"{describe_ids(self.class_ids)}; pick ids from that set")
        index = [position[cid] for cid in ids]
        counts = tf.gather(self.counts, index)
        with storage_device(self.images):
            images = tf.gather(self.images, index)[:, :int(np.max(counts.numpy()))]
        return ClassDataset(images=images, counts=counts, class_ids=tuple(ids),
                            class_names=tuple(self.class_names[i] for i in index),
                            name=self.name)

    def split(self, train_classes: Sequence[int],
              test_classes: Sequence[int] | None = None) -> "ClassDatasetSplits":
        """Splits the classes into disjoint meta-train and meta-test sets.

        Args:
          train_classes: class ids of the meta-train tasks.
          test_classes: class ids of the meta-test tasks; default: every other
            class.

        Raises:
          ValueError: an id is unknown, repeated, or in both lists.

        Example:
            >>> splits = load_folder_dataset(path).split(range(100))
            >>> splits.train.num_classes, splits.test.num_classes
            (100, 36)
        """
        train_ids = class_id_list(train_classes, "train_classes")
        if test_classes is None:
            taken = set(train_ids)
            test_ids = [cid for cid in self.class_ids if cid not in taken]
        else:
            test_ids = class_id_list(test_classes, "test_classes")
        check_disjoint(train_ids, test_ids)
        if not test_ids:
            raise ValueError(
                f"train_classes take every class of {self.name or 'the dataset'}, leaving no "
                f"meta-test class; keep some classes out of train_classes")
        return ClassDatasetSplits(self.select(train_ids, what="train_classes"),
                                  self.select(test_ids, what="test_classes"))

    # ------------------------------------------------------ per-class access
    def class_images(self, class_index) -> tf.Tensor:
        """All images of one class, ``[counts[class_index], H, W, C]``.

        Args:
          class_index: a class index ``0 .. num_classes - 1`` (int or scalar
            tensor; inside ``tf.function`` the leading dimension is dynamic).

        Example:
            >>> real = ds.class_images(2)   # e.g. the reference set for a score
        """
        class_index = check_class_index(class_index, self.num_classes, self.name)
        with storage_device(self.images):
            return pixels(self.images[class_index][:self.counts[class_index]])

    def class_batches(self, class_index, step, num_batches: int, batch_size: int,
                      seed: int = 0) -> tf.Tensor:
        """Draws ``num_batches`` batches of one class, deterministic in the arguments.

        Images within a batch are distinct (sampled without replacement); the
        batches are drawn independently of each other. Works inside
        ``tf.function`` (``class_index`` and ``step`` may be tensors).

        Args:
          class_index: a class index ``0 .. num_classes - 1``.
          step: an integer (e.g. the adaptation step); different steps give
            different batches.
          num_batches: number of batches (Python int >= 0).
          batch_size: images per batch (Python int >= 1, at most the images of
            the class).
          seed: the stream's seed.

        Returns:
          float32 ``[num_batches, batch_size, H, W, C]``.

        Example:
            >>> batches = ds.class_batches(0, step=0, num_batches=5, batch_size=10)
            >>> batches.shape
            TensorShape([5, 10, 28, 28, 1])
        """
        check_count("num_batches", num_batches, minimum=0)
        check_count("batch_size", batch_size, minimum=1)
        class_index = check_class_index(class_index, self.num_classes, self.name)
        count = self.counts[class_index]
        if isinstance(class_index, int):
            if batch_size > int(count):
                raise ValueError(
                    f"class index {class_index} ({self.class_names[class_index]!r}) has "
                    f"{int(count)} images, fewer than batch_size={batch_size}; use "
                    f"batch_size <= {int(count)}")
        else:
            tf.debugging.assert_greater_equal(
                count, batch_size,
                message=f"class has fewer images than batch_size={batch_size}")
        key = step_key(seed, step, SALT_CLASS)
        key = tf.random.experimental.stateless_fold_in(key, tf.cast(class_index, tf.int64))
        counts = tf.fill([num_batches], count)
        index = sample_without_replacement(key, counts, self.max_count, batch_size)
        with storage_device(self.images):
            return pixels(tf.gather(self.images[class_index], index))


class ClassDatasetSplits(NamedTuple):
    """Disjoint meta-train and meta-test class sets of one source.

    Example:
        >>> splits = load_class_dataset("omniglot", download=False)
        >>> splits.train.num_classes, splits.test.num_classes
        (964, 659)
    """
    train: ClassDataset
    test: ClassDataset
