"""MeGAN's augmentation grid: the generator's images of held-out support sets, step by step.

For each of a few held-out episodes (the curve's episodes: the same ones at
every point), one row of the support images and one row of the generator's
images of them at each inner step of the adaptation the run is scored with
(:func:`generated`); the steps whose images the classifier sees (from
``fakes_from`` on) are boxed.

Example:
    >>> image = augmentation_grid(setup, splits.test, episodes=3)
    >>> io.write_png(os.path.join(workdir, "samples.png"), image)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfmeta.algorithms.adapt import step_seed
from tfmeta.data import ClassDataset, EpisodeSampler
from tfmeta.experiments.few_shot.learners.gradient import trajectory
from tfmeta.experiments.few_shot.registry import FewShotSetup

SAMPLES_FILE = "samples.png"


def generated(setup: FewShotSetup, support_images: tf.Tensor, support_labels: tf.Tensor, *,
              inner_steps: int, seed=None) -> tf.Tensor:
    """MeGAN: ``[inner_steps, S, H, W, C]``, the generator's images of the support set at
    each inner step of ``adapt`` (the ones the classifier sees from ``fakes_from`` on)."""
    if setup.generator is None:
        raise ValueError(f"{setup.config.algorithm!r} has no generator (only megan has)")
    seed = tf.zeros([2], tf.int32) if seed is None else seed
    path = trajectory(setup, support_images, support_labels, inner_steps, None, seed)
    return tf.stack([setup.objective.generate(path[j], support_images, support_labels,
                                              step_seed(seed, 0, j))
                     for j in range(inner_steps)])


def augmentation_rows(setup: FewShotSetup, dataset: ClassDataset, *, episodes: int = 3,
                      seed: int = 0) -> list[tuple[str, np.ndarray, bool]]:
    """``[(label, images [S, H, W, C] in [-1, 1], seen_by_the_classifier), ...]``."""
    config = setup.config
    sampler = EpisodeSampler(dataset, ways=config.ways, shots=config.shots, queries=1, seed=seed)
    inner_steps = config.eval_inner_steps
    rows = []
    for e in range(episodes):
        episode = sampler(tf.constant(e, tf.int64))
        images = generated(setup, episode.support_images, episode.support_labels,
                           inner_steps=inner_steps, seed=episode.seed).numpy()
        rows.append((f"episode {e}: support", episode.support_images.numpy(), False))
        rows += [(f"  step {j + 1} generated", images[j], j >= config.fakes_from)
                 for j in range(inner_steps)]
    return rows


def render(rows: list[tuple[str, np.ndarray, bool]], scale: int = 2) -> np.ndarray:
    """The rows as one uint8 RGB image, labelled; rows the classifier saw are boxed."""
    from PIL import Image, ImageDraw

    n, h, w = (max(len(r[1]) for r in rows),) + rows[0][1].shape[1:3]
    gap, left = 4, 150
    tile_h, tile_w = h * scale, w * scale
    canvas = Image.new("RGB", (left + n * (tile_w + 2) + gap, len(rows) * (tile_h + gap) + gap),
                       (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (label, images, seen) in enumerate(rows):
        y = gap + i * (tile_h + gap)
        draw.text((4, y + tile_h // 2 - 6), label, fill=(0, 0, 0))
        pixels = np.clip((np.asarray(images) + 1.0) * 127.5, 0, 255).astype(np.uint8)
        if pixels.shape[-1] == 1:
            pixels = np.repeat(pixels, 3, axis=-1)
        for k, tile in enumerate(pixels):
            canvas.paste(Image.fromarray(tile).resize((tile_w, tile_h), Image.NEAREST),
                         (left + k * (tile_w + 2), y))
        if seen:
            draw.rectangle([left - 2, y - 2, left + len(pixels) * (tile_w + 2), y + tile_h + 1],
                           outline=(40, 90, 220), width=2)
    return np.asarray(canvas)


def augmentation_grid(setup: FewShotSetup, dataset: ClassDataset, *, episodes: int = 3,
                      seed: int = 0) -> np.ndarray:
    """:func:`augmentation_rows` rendered (uint8 ``[H, W, 3]``)."""
    return render(augmentation_rows(setup, dataset, episodes=episodes, seed=seed))
