"""Table 1 of paper 000: rows Real, Not pre-trained, FIGR, MetaSGD-GAN, MAML-GAN, FOMAML-GAN.

Example:
    >>> rows = evaluate_runs(EvaluationRequest(runs=("runs/maml",), critic="runs/critic"))
    >>> print(markdown_table(rows))
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np

from tfmeta.eval.critic import labels_for_class_ids, load_critic
from tfmeta.eval.generation import (GenerationEvalConfig, adapted_generator_source,
                                    evaluate_source, real_source)

ROW_NAMES = {"scratch": "Not pre-trained", "reptile": "FIGR", "metasgd": "MetaSGD-GAN",
             "maml": "MAML-GAN", "fomaml": "FOMAML-GAN"}
ROW_ORDER = ["Real"] + list(ROW_NAMES.values())


@dataclasses.dataclass(frozen=True)
class EvaluationRequest:
    """What to evaluate; see ``trainers/evaluate.py`` for each field."""
    runs: tuple
    critic: str
    tasks: int = 256
    samples: int = 4096
    adapt_steps: int = 10
    support: int = 32
    seed: int = 0
    real: bool = True
    data_dir: str | None = None
    download: bool = True


def evaluate_runs(request: EvaluationRequest,
                  progress: Callable[[str, int, int], None] | None = None) -> list[dict]:
    """Scores every run (and real images) with the critic; rows in Table 1 order."""
    from tfmeta.experiments.maml_gan import load_run, read_config

    if not request.runs:
        raise ValueError("--runs is empty; give at least one run directory")
    configs = [read_config(r) for r in request.runs]
    datasets = {c.dataset for c in configs}
    if len(datasets) != 1:
        raise ValueError(f"--runs mix datasets {sorted(datasets)}; evaluate one dataset at a time")
    dataset_name = datasets.pop()
    critic, info = load_critic(request.critic)
    if info.get("dataset") != dataset_name:
        raise ValueError(f"--critic={request.critic} was trained on {info.get('dataset')!r} but "
                         f"the runs are on {dataset_name!r}; train a critic on {dataset_name!r}")
    overrides = {"data_dir": request.data_dir, "download": request.download}
    rows = []
    splits = None
    for path, config in zip(request.runs, configs):
        setup, splits = load_run(path, **overrides)
        test = splits.test
        if tuple(info.get("image_shape", test.image_shape)) != tuple(test.image_shape):
            raise ValueError(f"--critic={request.critic} takes images of shape "
                             f"{info['image_shape']} but run {path} makes {test.image_shape}")
        labels = labels_for_class_ids(info["class_ids"], test.class_ids)
        if int(info["num_classes"]) < test.num_classes:
            raise ValueError(f"the critic has {info['num_classes']} classes, fewer than the "
                             f"{test.num_classes} test classes of run {path}")
        support = min(request.support, int(test.counts.numpy().min()))
        eval_config = GenerationEvalConfig(tasks=request.tasks, samples=request.samples,
                                           adapt_steps=request.adapt_steps, support=support,
                                           seed=request.seed)
        source = adapted_generator_source(setup, test, support=support,
                                          adapt_steps=request.adapt_steps, seed=request.seed)
        name = ROW_NAMES[config.algorithm]
        if any(r["name"] == name for r in rows):
            name = f"{name} ({os.path.basename(os.path.normpath(path))})"
        report = _progress(progress, name, request.tasks)
        row = evaluate_source(source, test, critic, labels, eval_config, report)
        rows.append(dict(name=name, run=path, algorithm=config.algorithm,
                         dataset=dataset_name, step=int(setup.checkpoint.step.numpy()),
                         support=support, adapt_steps=request.adapt_steps, **row))
    if request.real:
        test = splits.test
        labels = labels_for_class_ids(info["class_ids"], test.class_ids)
        support = min(request.support, int(test.counts.numpy().min()))
        eval_config = GenerationEvalConfig(tasks=request.tasks, samples=request.samples,
                                           support=support, seed=request.seed)
        row = evaluate_source(real_source(test, request.seed), test, critic, labels,
                              eval_config, _progress(progress, "Real", request.tasks))
        rows.append(dict(name="Real", run=None, algorithm="real", dataset=dataset_name, **row))
    rows.sort(key=lambda r: next((i for i, n in enumerate(ROW_ORDER) if r["name"].startswith(n)),
                                 len(ROW_ORDER)))
    return rows


def _progress(progress, name, total):
    if progress is None:
        return None
    return lambda done: progress(name, done, total)


def markdown_table(rows: list[dict]) -> str:
    """Rows as Table 1: NLL, accuracy, Frechet distance, support distance ratio (95% intervals)."""
    lines = ["| Algorithm | Task | NLL | Accuracy | Frechet (critic features) | "
             "Support distance ratio |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ratio = "-" if np.isnan(r.get("support_ratio", np.nan)) else (
            f"{r['support_ratio']:.2f} ± {r['support_ratio_ci95']:.2f}")
        lines.append(f"| {r['name']} | {r['dataset']} | {r['nll']:.3f} ± {r['nll_ci95']:.3f} | "
                     f"{r['accuracy']:.3f} ± {r['accuracy_ci95']:.3f} | "
                     f"{r['frechet']:.2f} ± {r['frechet_ci95']:.2f} | {ratio} |")
    tasks = rows[0]["tasks"] if rows else 0
    samples = rows[0]["samples"] if rows else 0
    steps = sorted({r["adapt_steps"] for r in rows if "adapt_steps" in r})
    support = sorted({r["support"] for r in rows if "support" in r})
    lines.append("")
    lines.append(f"{tasks} test tasks drawn with replacement, {samples} samples each"
                 + (f", generators adapted for {'/'.join(map(str, steps))} steps on "
                    f"{'/'.join(map(str, support))} support images" if steps else "")
                 + "; mean ± 95% interval over tasks. Support distance ratio: mean distance "
                 "from a sample to its nearest support image over that of the class's other "
                 "real images (1: as far from the shots as new real images, 0: copies of the "
                 "shots).")
    classes = sorted({c for r in rows for c in r.get("per_class", {})})
    if classes:
        lines += ["", "Accuracy per class (tasks of that class):", "",
                  "| Algorithm | " + " | ".join(classes) + " |",
                  "| --- |" + " ---: |" * len(classes)]
        for r in rows:
            cells = [f"{r['per_class'][c]['accuracy']:.3f} ({r['per_class'][c]['tasks']})"
                     if c in r.get("per_class", {}) else "-" for c in classes]
            lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
