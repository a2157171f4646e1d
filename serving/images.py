"""Support images in, sample grids out: PIL and numpy only (no TensorFlow, no tfmeta).

A support folder is a flat folder of image files (``.png``, ``.jpg``, ``.jpeg``,
``.bmp``, ``.gif``), read in file-name order. Each image is converted to
grayscale (``channels=1``) or RGB (``channels=3``), resized to ``height x width``
with area averaging (PIL's ``BOX`` filter, like tfmeta's dataset loaders) when
its size differs, and scaled from ``[0, 255]`` to float32 ``[-1, 1]``; with
``invert=True`` the result is negated (for dark ink on white paper, e.g.
Omniglot's PNGs; MNIST-style data is bright on dark).

Polarity: a model trained on bright ink on a dark background (MNIST, Fashion-MNIST,
tfmeta's inverted Omniglot) given scans of dark ink on white paper adapts to the
negative. :func:`matched_support` reads the background of the support images (the
median of their one-pixel frame, :func:`border_level`) and inverts them when it is
the opposite of the run's (:func:`background_of`: ``"dark"``, ``"light"``, or
``"any"`` where the training data has no clear background, e.g. photographs); where
the support's own frame is neither clearly dark nor clearly light it refuses, asking
for ``invert`` to be given.

Example:
    >>> support = read_support_folder("my_digits/", (28, 28, 1))   # [n, 28, 28, 1]
    >>> support, note = matched_support(support, background="dark")
    >>> note
    'light background: inverted to the run\'s dark one'
    >>> write_grid(samples, "grid.png")
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
BACKGROUNDS = ("dark", "light", "any")
# A frame whose median level is below -CLEAR is a dark background, above +CLEAR a light one
# (levels in [-1, 1]; MNIST's frame is -1, a white sheet of paper scanned about +0.9).
CLEAR = 0.5


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
    """One image as float32 ``[H, W, C]`` in ``[-1, 1]``: ``(x - 127.5) / 127.5``, odd about
    mid-grey, so a negated image reads as exactly the negation of the original (a scan of
    dark ink on white, inverted, adapts exactly as the same drawing bright on dark)."""
    height, width, channels = parse_image_shape(image_shape)
    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")
        if image.size != (width, height):
            image = image.resize((width, height), Image.BOX)
        pixels = np.asarray(image, np.float32)
    if channels == 1:
        pixels = pixels[..., None]
    scaled = (pixels - np.float32(127.5)) / np.float32(127.5)
    return -scaled if invert else scaled


def read_support_folder(folder: str, image_shape: Sequence[int],
                        invert: bool = False) -> np.ndarray:
    """Every image of ``folder`` as float32 ``[n, H, W, C]`` in ``[-1, 1]``."""
    return np.stack([read_image(p, image_shape, invert) for p in image_files(folder)])


def border_level(images: np.ndarray) -> float:
    """The median level of the images' one-pixel frame (every channel): their background."""
    x = np.asarray(images, np.float32)
    if x.ndim != 4 or x.shape[1] < 2 or x.shape[2] < 2:
        raise ValueError(f"expected images [n, H >= 2, W >= 2, C], got shape {x.shape}")
    n = len(x)
    frame = np.concatenate([x[:, 0].reshape(n, -1), x[:, -1].reshape(n, -1),
                            x[:, 1:-1, 0].reshape(n, -1), x[:, 1:-1, -1].reshape(n, -1)], axis=1)
    return float(np.median(frame))


def background_of(images: np.ndarray) -> str:
    """``"dark"``, ``"light"``, or ``"any"`` (no clear background) for ``images`` in [-1, 1]."""
    level = border_level(images)
    return "dark" if level < -CLEAR else "light" if level > CLEAR else "any"


def matched_support(support: np.ndarray, background: str = "any",
                    invert: bool | None = None) -> tuple[np.ndarray, str]:
    """``(support, note)``: the support images in the run's polarity, and what was done.

    Args:
      support: float32 ``[n, H, W, C]`` in ``[-1, 1]``.
      background: the run's training data's (:func:`background_of`): ``"dark"``,
        ``"light"`` or ``"any"``.
      invert: ``True`` / ``False`` negate or keep the images as asked; ``None``
        (default) decides from their frame: kept when their background is the run's
        (or the run's is ``"any"``), negated when it is the opposite.

    Raises:
      ValueError: an unknown ``background``; or, deciding, a support set whose frame is
        neither clearly dark nor clearly light (one line with its level).
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, got {background!r}")
    support = np.asarray(support, np.float32)
    if invert is not None:
        return (-support, "inverted as asked") if invert else (support, "not inverted, as asked")
    if background == "any":
        return support, "as read (the run's data has no clear background)"
    level = border_level(support)
    if abs(level) <= CLEAR:
        raise ValueError(
            f"cannot tell the support images' background: the median of their border is "
            f"{level:.2f} on [-1, 1], neither dark nor light (the run's data has a {background} "
            f"background); say whether to invert them (--invert or --noinvert)")
    own = "dark" if level < 0 else "light"
    if own == background:
        return support, f"{own} background, as the run's data"
    return -support, f"{own} background: inverted to the run's {background} one"


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
