"""Tiny stand-ins of the few-shot benchmarks' files, in their exact on-disk formats.

Each writer puts a few classes of a few small images into a folder, laid out
and encoded as the real files are (pickles, CSVs, JPEG/PNG, tar.gz); class
``k`` is a flat colour of its own plus noise, so its images are recognisable.
Nothing here is data from the real datasets. Used by
``tests/tfmeta/data/benchmarks_test.py`` and ``tests/trainers/benchmarks_test.py``.
"""

from __future__ import annotations

import csv
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from tfmeta.data.cifar100 import CIFAR_FS_CLASSES, FC100_SUPERCLASSES

# A few CIFAR-100 classes with their true superclass, chosen so that both
# CIFAR-FS and FC100 get classes in each of their three splits.
CIFAR_PICKED = {"dolphin": "aquatic_mammals", "aquarium_fish": "fish", "orchid": "flowers",
                "bear": "large_carnivores", "hamster": "small_mammals", "bee": "insects",
                "beaver": "aquatic_mammals", "lamp": "household_electrical_devices",
                "whale": "aquatic_mammals", "poppy": "flowers"}
CIFAR_FINE = sorted(n for names in CIFAR_FS_CLASSES.values() for n in names)   # CIFAR's order
CIFAR_COARSE = sorted(n for names in FC100_SUPERCLASSES.values() for n in names)

MINI_CLASSES = {"train": 3, "val": 2, "test": 2}
TIERED_CLASSES = {"train": 3, "val": 2, "test": 2}
CUB_PICKED = (1, 3, 5, 2, 6, 4, 8)       # class numbers: 3 train (odd), 2 val, 2 test


def class_images(label: int, count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 ``[count, height, width, 3]``: class ``label``'s colour plus noise."""
    rng = np.random.default_rng([seed, label])
    colour = np.array([(37 * label) % 256, (91 * label + 60) % 256, (53 * label + 120) % 256])
    noise = rng.integers(-20, 21, size=(count, height, width, 3))
    return np.clip(colour + noise, 0, 255).astype(np.uint8)


def encode(image: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format=fmt)
    return out.getvalue()


def mini_wnid(part: str, i: int) -> str:
    return f"n0{'1' if part == 'train' else '2' if part == 'val' else '3'}{i:06d}"


def write_mini_pickles(root: Path, per_class: int = 6) -> Path:
    """``root/mini-imagenet-cache-{train,val,test}.pkl``: ``image_data`` and ``class_dict``."""
    root.mkdir(parents=True, exist_ok=True)
    for p, (part, classes) in enumerate(MINI_CLASSES.items()):
        images = np.concatenate([class_images(10 * p + c, per_class, 84, 84)
                                 for c in range(classes)])
        class_dict = {mini_wnid(part, c): list(range(c * per_class, (c + 1) * per_class))
                      for c in range(classes)}
        with open(root / f"mini-imagenet-cache-{part}.pkl", "wb") as f:
            pickle.dump({"image_data": images, "class_dict": class_dict}, f,
                        protocol=pickle.HIGHEST_PROTOCOL)
    return root


def write_mini_csv(root: Path, per_class: int = 5, size: tuple[int, int] = (90, 100)) -> Path:
    """``root/{train,val,test}.csv`` (``filename,label``), ``root/images/<wnid><8 digits>.jpg``."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for p, (part, classes) in enumerate(MINI_CLASSES.items()):
        with open(root / f"{part}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["filename", "label"])
            for c in range(classes):
                wnid = mini_wnid(part, c)
                for i, image in enumerate(class_images(10 * p + c, per_class, *size)):
                    name = f"{wnid}{i + 1:08d}.jpg"
                    (root / "images" / name).write_bytes(encode(image, "JPEG"))
                    writer.writerow([name, wnid])
    return root


def write_tiered(root: Path, per_class: int = 4, npz: bool = False) -> Path:
    """``root/tiered-imagenet/{split}_labels.pkl`` with ``{split}_images_png.pkl`` (or ``.npz``)."""
    folder = root / "tiered-imagenet"
    folder.mkdir(parents=True, exist_ok=True)
    for p, (part, classes) in enumerate(TIERED_CLASSES.items()):
        images = np.concatenate([class_images(10 * p + c, per_class, 84, 84)
                                 for c in range(classes)])
        labels = np.repeat(np.arange(classes), per_class)
        meta = {"label_specific": labels, "label_general": labels // 2,
                "label_specific_str": [f"{mini_wnid(part, c)}" for c in range(classes)],
                "label_general_str": [f"category{g}" for g in range((classes + 1) // 2)]}
        with open(folder / f"{part}_labels.pkl", "wb") as f:
            pickle.dump(meta, f, protocol=2)
        if npz:
            np.savez(folder / f"{part}_images.npz", images=images)
        else:
            encoded = [np.frombuffer(encode(x, "PNG"), np.uint8) for x in images]
            with open(folder / f"{part}_images_png.pkl", "wb") as f:
                pickle.dump(encoded, f, protocol=2)
    return root


def write_cifar100(root: Path, per_class: int = 6, archive: bool = False) -> Path:
    """``root/cifar-100-python/{train,test,meta}`` (or the ``.tar.gz`` of that folder).

    Pickled dicts with bytes keys as the python version holds them
    (``b"data"`` uint8 ``[N, 3072]`` red/green/blue planes, ``b"fine_labels"``,
    ``b"coarse_labels"``; ``meta``: ``b"fine_label_names"``,
    ``b"coarse_label_names"``); each picked class's images split 2:1 between
    ``train`` and ``test``.
    """
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    train_n = (2 * per_class) // 3
    parts = {"train": ([], [], []), "test": ([], [], [])}
    for name, coarse in CIFAR_PICKED.items():
        fine = CIFAR_FINE.index(name)
        images = class_images(fine, per_class, 32, 32)
        planes = images.transpose(0, 3, 1, 2).reshape(per_class, 3072)
        for part, rows in (("train", planes[:train_n]), ("test", planes[train_n:])):
            parts[part][0].append(rows)
            parts[part][1].extend([fine] * len(rows))
            parts[part][2].extend([CIFAR_COARSE.index(coarse)] * len(rows))
    for part, (data, fine, coarse) in parts.items():
        with open(folder / part, "wb") as f:
            pickle.dump({b"filenames": [b"x.png"] * len(fine), b"batch_label": part.encode(),
                         b"fine_labels": fine, b"coarse_labels": coarse,
                         b"data": np.concatenate(data)}, f, protocol=2)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [n.encode() for n in CIFAR_FINE],
                     b"coarse_label_names": [n.encode() for n in CIFAR_COARSE]}, f, protocol=2)
    if archive:
        tar_folder(root / "cifar-100-python.tar.gz", folder)
    return root


def write_cub(root: Path, per_class: int = 4, archive: bool = False) -> Path:
    """``root/CUB_200_2011/{classes.txt,images.txt,images/<NNN.Name>/*.jpg}`` (or its ``.tgz``).

    ``classes.txt`` lists all 200 classes; images exist for :data:`CUB_PICKED`
    only (of odd sizes, one of them grayscale), and ``images.txt`` lists them.
    """
    folder = root / "CUB_200_2011"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    names = {n: f"{n:03d}.Bird_{n:03d}" for n in range(1, 201)}
    (folder / "classes.txt").write_text("".join(f"{n} {names[n]}\n" for n in names))
    lines = []
    for number in CUB_PICKED:
        (folder / "images" / names[number]).mkdir()
        for i, image in enumerate(class_images(number, per_class, 50, 70)):
            path = f"{names[number]}/Bird_{number:03d}_{i:04d}_{1000 + i}.jpg"
            pixels = image[..., 0] if (number, i) == (3, 0) else image      # one grayscale
            (folder / "images" / path).write_bytes(encode(pixels, "JPEG"))
            lines.append(path)
    (folder / "images.txt").write_text("".join(f"{k} {p}\n" for k, p in enumerate(lines, 1)))
    if archive:
        tar_folder(root / "CUB_200_2011.tgz", folder)
    return root


def tar_folder(archive: Path, folder: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
