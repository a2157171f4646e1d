"""CUB-200-2011 (Caltech-UCSD Birds) with the few-shot class split of Chen et al. 2019.

:func:`load_cub` reads CUB-200-2011 as Caltech distributes it: the archive
``CUB_200_2011.tgz`` (MD5 ``97eceeb196236b17998738112f37df78``, read in
place, not extracted) or its extracted folder ``CUB_200_2011/`` with
``classes.txt`` (``1 001.Black_footed_Albatross``), ``images.txt`` (``1
001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg``) and
``images/<class folder>/*.jpg``, in ``data_dir`` (or ``data_dir`` is that
folder).

The split is the one of Chen et al. 2019 ("A Closer Look at Few-shot
Classification", ``write_CUB_filelist.py``), used by learn2learn, torchmeta
and the papers that report CUB: of the 200 classes in order, class number
``n`` (1..200) is meta-train when ``n`` is odd (100 classes), validation when
``n % 4 == 2`` (50), meta-test when ``n % 4 == 0`` (50). Class ids are the
class numbers, names the class folders.

Every image is resized as a whole (no bounding-box crop, aspect ratio not
kept) to ``image_size`` (84 in the papers) by area averaging, kept as uint8
and drawn as float32 ``[-1, 1]``; grayscale images are repeated to RGB. The
decoded images of a split are kept in the disk cache of
:mod:`tfmeta.data.cache`.

Example:
    >>> splits = load_cub("data")            # data/CUB_200_2011.tgz or data/CUB_200_2011/
    >>> splits.train.num_classes, splits.test.num_classes
    (100, 50)
"""

from __future__ import annotations

import os
import tarfile
import time
from pathlib import Path

from absl import logging
import numpy as np

from tfmeta import checks
from tfmeta.data import cache
from tfmeta.data.class_dataset import ClassDataset, ClassDatasetSplits
from tfmeta.data.files import (benchmark_splits, check_held_out, check_md5, class_pool,
                               decode_images, find)

__all__ = ["CHECKSUMS", "CUB_CLASSES", "load_cub", "split_of_class"]

SOURCE = "https://data.caltech.edu/records/65de6-vp158 (CUB_200_2011.tgz)"
ARCHIVE = "CUB_200_2011.tgz"
FOLDER = "CUB_200_2011"

CHECKSUMS = {ARCHIVE: "97eceeb196236b17998738112f37df78"}
"""The archive's published MD5 (the extracted files have none)."""

CUB_CLASSES = {"train": 100, "val": 50, "test": 50}
"""Classes of each split (Chen et al. 2019)."""


def split_of_class(number: int) -> str:
    """``"train"``, ``"val"`` or ``"test"``: the split of CUB class number ``number`` (1..200)."""
    return "train" if number % 2 else ("val" if number % 4 == 2 else "test")


def load_cub(data_dir: str | os.PathLike, *, held_out: str = "test",
             image_size: int = 84) -> ClassDatasetSplits:
    """CUB-200-2011's 100 meta-train classes and its 50 test (or 50 validation) classes.

    Args:
      data_dir: the folder holding ``CUB_200_2011.tgz`` or ``CUB_200_2011/``
        (or that folder itself).
      held_out: ``"test"`` or ``"val"``: the ``test`` member of the result.
      image_size: side of the square images (84 in the papers).

    Raises:
      FileNotFoundError: the archive, the folder, or a file it lists is
        missing (one line naming it).
      ValueError: the archive's MD5 does not match, a list is malformed, or an
        image does not decode.

    Example:
        >>> load_cub("data", image_size=84).train.image_shape
        (84, 84, 3)
    """
    if data_dir is None:
        raise ValueError(f"CUB needs data_dir, the folder holding {ARCHIVE} or {FOLDER}/")
    image_size = checks.count("image_size", image_size)
    check_held_out(held_out)
    source = _Source(Path(data_dir))
    return benchmark_splits(lambda part: _part(source, part, image_size), held_out)


class _Source:
    """The folder or the archive, its class list and image list (read once)."""

    def __init__(self, root: Path):
        what = "CUB-200-2011"
        if (root / "images.txt").exists() and (root / "classes.txt").exists():
            self.folder, self.archive = root, None
        elif (root / FOLDER).is_dir():
            self.folder, self.archive = root / FOLDER, None
        else:
            self.archive = find(what, [root / ARCHIVE, root / FOLDER], source=SOURCE)
            self.folder = None
            check_md5(self.archive, CHECKSUMS.get(ARCHIVE), what, source=SOURCE)
        self.what = what
        if self.folder is not None:
            lists = {}
            for name in ("classes.txt", "images.txt"):
                path = find(what, [self.folder / name], source=SOURCE)
                lists[name] = path.read_text(errors="replace")
            self.fingerprint = cache.files_fingerprint(str(self.folder))
        else:
            lists = self._archive_lists()
            stat = os.stat(self.archive)
            self.fingerprint = [(ARCHIVE, int(stat.st_size), int(stat.st_mtime_ns))]
        self.classes = self._parse("classes.txt", lists["classes.txt"])
        self.images = [path for _, path in self._parse("images.txt", lists["images.txt"])]

    def _where(self, name: str) -> str:
        return os.fspath(self.folder / name if self.folder is not None
                         else f"{self.archive}:{FOLDER}/{name}")

    def _archive_lists(self) -> dict:
        lists = {}
        try:
            with tarfile.open(self.archive, "r:gz") as tar:
                for member in tar:
                    name = member.name.split("/", 1)[-1]
                    if name in ("classes.txt", "images.txt"):
                        lists[name] = tar.extractfile(member).read().decode(errors="replace")
                    if len(lists) == 2:
                        break
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ValueError(f"{self.what}: {self.archive} does not read as a tar.gz "
                             f"({type(e).__name__}); download it again from {SOURCE}") from None
        for name in ("classes.txt", "images.txt"):
            if name not in lists:
                raise FileNotFoundError(f"{self.what}: {self._where(name)} is missing; get "
                                        f"{ARCHIVE} again from {SOURCE}")
        return lists

    def _parse(self, name: str, text: str) -> list[tuple[int, str]]:
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[0].isdigit():
                raise ValueError(f"{self.what}: {self._where(name)} line {number} is "
                                 f"{line[:60]!r}, not '<id> <name>'; get it again from {SOURCE}")
            rows.append((int(parts[0]), parts[1]))
        if not rows:
            raise ValueError(f"{self.what}: {self._where(name)} is empty; get it again from "
                             f"{SOURCE}")
        return rows

    def read(self, paths: list[str]) -> list[bytes]:
        """The bytes of ``images/<path>`` for each of ``paths``."""
        if self.folder is not None:
            files = [self.folder / "images" / p for p in paths]
            missing = [f for f in files if not f.exists()]
            if missing:
                raise FileNotFoundError(f"{self.what}: {missing[0]} is missing ({len(missing)} "
                                        f"of the images images.txt lists); get {ARCHIVE} again "
                                        f"from {SOURCE}")
            return files
        wanted, found = set(paths), {}
        try:
            with tarfile.open(self.archive, "r:gz") as tar:
                for member in tar:
                    parts = member.name.split("/", 2)
                    if len(parts) == 3 and parts[1] == "images" and parts[2] in wanted:
                        found[parts[2]] = tar.extractfile(member).read()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ValueError(f"{self.what}: {self.archive} does not read as a tar.gz "
                             f"({type(e).__name__}); download it again from {SOURCE}") from None
        missing = [p for p in paths if p not in found]
        if missing:
            raise FileNotFoundError(f"{self.what}: {self.archive}:{FOLDER}/images/{missing[0]} "
                                    f"is missing; get {ARCHIVE} again from {SOURCE}")
        return [found[p] for p in paths]


def _part(source: _Source, part: str, size: int) -> ClassDataset:
    what = f"CUB {part} split"
    start = time.perf_counter()
    number_of = {folder: number for number, folder in source.classes}
    ids = {folder: n for folder, n in number_of.items() if split_of_class(n) == part}
    paths = [p for p in source.images if p.split("/", 1)[0] in ids]
    unknown = [p for p in source.images if p.split("/", 1)[0] not in number_of]
    if unknown:
        raise ValueError(f"{source.what}: images.txt lists {unknown[0]} whose class folder is "
                         f"not in classes.txt; get both again from {SOURCE}")
    if not paths:
        raise ValueError(f"{source.what}: no image of the {part} classes in images.txt; it is "
                         f"not CUB-200-2011's list, get it again from {SOURCE}")
    key = cache.key_of(name="cub", part=part, size=size, files=source.fingerprint,
                       images=len(paths))

    def decode():
        encoded = source.read(paths)
        images = decode_images(
            lambda i: encoded[i].read_bytes() if isinstance(encoded[i], Path) else encoded[i],
            len(paths), size, what=what, names=paths, source=SOURCE)
        return {"images": images,
                "labels": np.asarray([ids[p.split("/", 1)[0]] for p in paths], np.int64)}

    arrays = cache.cached_arrays(key, decode)
    dataset = class_pool(arrays["images"], arrays["labels"],
                         {n: folder for folder, n in ids.items()}, size=size, name=what)
    logging.info("Loaded %s: %d classes, %d images in %.1f s.", what, dataset.num_classes,
                 len(paths), time.perf_counter() - start)
    return dataset
