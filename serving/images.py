"""Support images in, sample grids out: PIL and numpy only (no TensorFlow, no tfmeta).

A support folder is a flat folder of image files (``.png``, ``.jpg``, ``.jpeg``,
``.bmp``, ``.gif``), read in file-name order. Each image is converted to
grayscale (``channels=1``) or RGB (``channels=3``), resized to ``height x width``
with area averaging (PIL's ``BOX`` filter, like tfmeta's dataset loaders) when
its size differs, and scaled from ``[0, 255]`` to float32 ``[-1, 1]``; with
``invert=True`` the result is negated (for dark ink on white paper, e.g.
Omniglot's PNGs; MNIST-style data is bright on dark).

Example:
    >>> support = read_support_folder("my_digits/", (28, 28, 1))   # [n, 28, 28, 1]
    >>> write_grid(samples, "grid.png")
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def parse_image_shape(text: str | Sequence[int]) -> tuple[int, int, int]:
    """``"28,28,1"`` (or a sequence) -> ``(28, 28, 1)``; ValueError naming the value."""
    try:
        parts = [int(p) for p in (text.split(",") if isinstance(text, str) else text)]
    except (TypeError, ValueError):
        parts = []
    if len(parts) != 3 or min(parts) < 1 or parts[2] not in (1, 3):
        raise ValueError(f"image shape must be HEIGHT,WIDTH,CHANNELS with channels 1 or 3, "
                         f"got {text!r}")
    return parts[0], parts[1], parts[2]


def image_files(folder: str) -> list[str]:
    """The image files directly in ``folder``, sorted by name."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"support folder {folder!r} does not exist")
    files = sorted(f for f in os.listdir(folder)
                   if f.lower().endswith(IMAGE_EXTENSIONS)
                   and os.path.isfile(os.path.join(folder, f)))
    if not files:
        raise ValueError(f"support folder {folder!r} holds no images "
                         f"({', '.join(IMAGE_EXTENSIONS)})")
    return [os.path.join(folder, f) for f in files]


def read_image(path: str, image_shape: Sequence[int], invert: bool = False) -> np.ndarray:
    """One image as float32 ``[H, W, C]`` in ``[-1, 1]``."""
    height, width, channels = parse_image_shape(image_shape)
    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")
        if image.size != (width, height):
            image = image.resize((width, height), Image.BOX)
        pixels = np.asarray(image, np.float32)
    if channels == 1:
        pixels = pixels[..., None]
    scaled = pixels / 127.5 - 1.0
    return -scaled if invert else scaled


def read_support_folder(folder: str, image_shape: Sequence[int],
                        invert: bool = False) -> np.ndarray:
    """Every image of ``folder`` as float32 ``[n, H, W, C]`` in ``[-1, 1]``."""
    return np.stack([read_image(p, image_shape, invert) for p in image_files(folder)])


def grid(images: np.ndarray, columns: int | None = None, scale: int = 2,
         gap: int = 2) -> np.ndarray:
    """Tiles ``[n, H, W, C]`` images in ``[-1, 1]`` into one uint8 RGB image."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise ValueError(f"expected images [n, H, W, 1|3], got shape {images.shape}")
    n, h, w, _ = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = -(-n // columns)
    pixels = np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    th, tw = h * scale, w * scale
    canvas = np.full((rows * (th + gap) + gap, columns * (tw + gap) + gap, 3), 255, np.uint8)
    for k in range(n):
        r, c = divmod(k, columns)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        canvas[y:y + th, x:x + tw] = pixels[k]
    return canvas


def write_grid(images: np.ndarray, path: str, columns: int | None = None) -> None:
    """Writes :func:`grid` of ``images`` as a PNG, atomically (temporary file + rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    Image.fromarray(grid(images, columns)).save(tmp, format="PNG")
    os.replace(tmp, path)
