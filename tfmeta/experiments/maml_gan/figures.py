"""Sample grids of a MAML-GAN run (paper 000, Figure 5): compute, render, write as PNG.

Each held-out class adapts a meta-learned and a random initialization on a
few of its images; the grid shows the support images, the prior and the
generator after each of a few adaptation step counts.

Example:
    >>> blocks, rows, columns = sample_grid(setup, random_setup, splits.test, [0, 1, 2],
    ...                                     samples=8)
    >>> write_grid(os.path.join(workdir, "samples"), 100, blocks, rows, columns)
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from tfmeta import io
from tfmeta.data import ClassDataset
from tfmeta.data.support import step_batches, support_set
from tfmeta.experiments.maml_gan.adaptation import adaptation_trajectory, params_of
from tfmeta.experiments.maml_gan.build import MamlGanSetup
from tfmeta.experiments.maml_gan.config import GRID_STEPS, GRID_SUPPORT
from tfmeta.gan import generate


def sample_grid(setup: MamlGanSetup, random_setup: MamlGanSetup, dataset: ClassDataset, classes,
                *, samples: int, seed: int = 0, steps=GRID_STEPS,
                support: int = GRID_SUPPORT) -> tuple[list, list, list]:
    """Figure 5 of paper 000: per class, meta-init vs random-init adaptation.

    Each class adapts on a support set of ``support`` of its images (capped at
    the class size; at least the run's batch size), every inner step on
    ``batch_size`` of them, as ``trainers.evaluate`` does: a few shots, however
    many steps. The columns are the support images, the prior and the generator
    after each of ``steps`` adaptation steps.

    Returns:
      ``(blocks, row_labels, column_labels)``: ``blocks[row][col]`` is a
      ``[samples, H, W, C]`` array in [-1, 1]; column 0 holds support images.
    """
    config = setup.config
    z = tf.random.stateless_normal([samples, config.latent_dim], [seed, 99])
    columns = (0,) + tuple(steps)
    rows, labels = [], []
    for c in classes:
        size = min(max(support, config.batch_size), int(dataset.counts[int(c)]))
        shots = support_set(dataset, int(c), 0, size, seed)
        images = step_batches(shots, max(steps), config.batch_size,
                              tf.constant([seed, int(c)], tf.int32))
        for name, s in (("meta-init", setup), ("random init", random_setup)):
            traj = adaptation_trajectory(s, params_of(s), images, [seed, int(c)], max(steps))
            row = [tf.gather(shots, tf.range(samples) % size).numpy()]
            row += [generate(s.generator, traj[k]["generator"], z).numpy() for k in columns]
            rows.append(row)
            labels.append(f"{dataset.class_names[int(c)]}: {name}")
    names = ["support"] + ["prior" if k == 0 else f"{k} step{'s' * (k > 1)}" for k in columns]
    return rows, labels, names


def grid_image(blocks, row_labels, column_labels, scale: int = 2) -> np.ndarray:
    """Renders sample blocks into one uint8 RGB image with labels (PIL)."""
    from PIL import Image, ImageDraw

    first = blocks[0][0]
    n, h, w, c = first.shape
    per_row = min(n, 4)
    tile_rows = -(-n // per_row)
    bh, bw = tile_rows * h * scale, per_row * w * scale
    gap, left, top = 6, 150, 18
    height = top + len(blocks) * (bh + gap)
    width = left + len(column_labels) * (bw + gap)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for j, name in enumerate(column_labels):
        draw.text((left + j * (bw + gap) + 2, 3), name, fill=(0, 0, 0))
    for i, (row, label) in enumerate(zip(blocks, row_labels)):
        y0 = top + i * (bh + gap)
        draw.text((4, y0 + bh // 2 - 6), label, fill=(0, 0, 0))
        for j, block in enumerate(row):
            x0 = left + j * (bw + gap)
            pix = np.clip((np.asarray(block) + 1.0) * 127.5, 0, 255).astype(np.uint8)
            if pix.shape[-1] == 1:
                pix = np.repeat(pix, 3, axis=-1)
            for k in range(n):
                tile = Image.fromarray(pix[k]).resize((w * scale, h * scale), Image.NEAREST)
                canvas.paste(tile, (x0 + (k % per_row) * w * scale,
                                    y0 + (k // per_row) * h * scale))
            if j == 1:  # the prior is boxed, as in the paper
                draw.rectangle([x0 - 2, y0 - 2, x0 + bw + 1, y0 + bh + 1], outline=(40, 90, 220),
                               width=2)
    return np.asarray(canvas)


def grid_classes(dataset: ClassDataset, count: int = 3) -> list[int]:
    """The held-out classes shown in sample grids: all if few, else evenly spaced."""
    n = dataset.num_classes
    return list(range(n)) if n <= count else [int(i) for i in np.linspace(0, n - 1, count)]


def write_grid(samples_dir: str, step: int, image: np.ndarray) -> list[str]:
    """Writes ``image`` as ``step_XXXXXX.png`` and ``latest.png``; returns both paths."""
    paths = [os.path.join(samples_dir, f"step_{step:06d}.png"),
             os.path.join(samples_dir, "latest.png")]
    for path in paths:
        io.write_png(path, image)
    return paths


def quality_curves(rows: list[dict], path: str) -> None:
    """Critic accuracy and NLL against meta-updates, one line per adaptation step count.

    One column of panels per run (rows of :func:`...evaluate.evaluate_runs` with
    ``checkpoints="all"`` and several ``adapt_steps``): whether the quality
    after k steps still rises with meta-training (budget) or is flat (method or
    settings). The Real row, if any, is a dashed line. Written as PNG at ``path``.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real = next((r for r in rows if r["algorithm"] == "real"), None)
    runs = list(dict.fromkeys(r["name"] for r in rows if r["algorithm"] != "real"))
    fig, axes = plt.subplots(2, max(1, len(runs)), figsize=(4.2 * max(1, len(runs)), 6.4),
                             squeeze=False, sharex="col")
    for col, name in enumerate(runs):
        mine = [r for r in rows if r["name"] == name]
        for i, count in enumerate(sorted({r["adapt_steps"] for r in mine})):
            line = sorted((r for r in mine if r["adapt_steps"] == count), key=lambda r: r["step"])
            steps = [r["step"] for r in line]
            for ax, key in zip(axes[:, col], ("accuracy", "nll")):
                ax.errorbar(steps, [r[key] for r in line], yerr=[r[f"{key}_ci95"] for r in line],
                            marker="o", markersize=3, capsize=2, color=f"C{i}",
                            label=f"{count} step{'s' if count > 1 else ''}")
        axes[0, col].set_title(name)
        axes[0, col].set_ylim(0.0, 1.0)
        axes[1, col].set_yscale("log")
        axes[1, col].set_xlabel("meta-updates")
        for ax, key in zip(axes[:, col], ("accuracy", "nll")):
            if real is not None:
                ax.axhline(real[key], linestyle="--", color="gray", label="real images")
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("critic accuracy")
    axes[1, 0].set_ylabel("critic NLL")
    axes[0, -1].legend(fontsize=8, title="adaptation", title_fontsize=8)
    if rows:
        fig.suptitle(f"{rows[0]['dataset']}: {rows[0]['tasks']} held-out tasks x "
                     f"{rows[0]['samples']} samples, mean ± 95% interval", fontsize=9)
    fig.tight_layout()
    io.write_figure(path, fig)
