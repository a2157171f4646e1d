"""Markdown tables of generation-quality rows (Table 1 of paper 000 and its per-class accuracy),
and the mean-and-interval summary the experiments report (:func:`interval`).

A row is a dict as :func:`tfmeta.eval.generation.evaluate_source` returns it,
plus ``name`` and ``dataset`` (and, for adapted models, ``adapt_steps`` and
``support``, the support size); the experiment that made the rows orders them.

Example:
    >>> print(markdown_table(rows))
"""

from __future__ import annotations

import numpy as np

__all__ = ["interval", "markdown_table", "paired_difference"]


def interval(values) -> dict:
    """``{"mean", "ci95", "n"}`` of ``values``: the mean and the normal 95% interval's half
    width ``1.96 std / sqrt(n)`` (0 for one value)."""
    values = np.asarray(values, np.float64)
    n = int(values.size)
    std = float(np.std(values, ddof=1)) if n > 1 else 0.0
    return {"mean": float(np.mean(values)), "ci95": 1.96 * std / float(np.sqrt(n)), "n": n}


def paired_difference(a: dict, b: dict, metric: str = "accuracy") -> dict:
    """``interval`` of ``a - b`` task by task: two rows scored on the same tasks (the same
    seed, task count and support size; other models, checkpoints or step counts), whose
    shared task-to-task variation cancels. Raises ValueError for rows of other tasks."""
    if metric not in ("accuracy", "nll"):
        raise ValueError(f"metric={metric!r}: expected 'accuracy' or 'nll'")
    for row in (a, b):
        if "per_task" not in row:
            raise ValueError(f"row {row.get('name', '?')!r} has no per_task scores: "
                             "expected a row of tfmeta.eval.evaluate_source")
    keys = ("seed", "tasks", "support_size")
    if any(a.get(k) != b.get(k) for k in keys) or a["per_task"]["class"] != b["per_task"]["class"]:
        differ = ", ".join(f"{k} {a.get(k)} vs {b.get(k)}" for k in keys)
        raise ValueError(f"rows scored on other tasks ({differ}): expected the same tasks")
    return interval(np.subtract(a["per_task"][metric], b["per_task"][metric]))


def markdown_table(rows: list[dict]) -> str:
    """Rows as Table 1: NLL, accuracy, Frechet distance, support distance ratio (95% intervals).

    Where rows of one name differ in ``step`` (the checkpoint's meta-updates)
    or in ``adapt_steps`` (a run scored along its checkpoints or at several
    step counts), each gets a column.
    """
    def varies(key):
        names = {r["name"] for r in rows}
        return any(len({r.get(key) for r in rows if r["name"] == n}) > 1 for n in names)
    extra = [(key, title) for key, title in (("step", "Meta-updates"), ("adapt_steps", "Steps"))
             if varies(key)]

    def label(r):
        return " | ".join([r["name"]] + [str(r.get(key, "-")) for key, _ in extra])

    lines = ["| Algorithm | " + "".join(f"{title} | " for _, title in extra)
             + "Task | NLL | Accuracy | Frechet (critic features) | Support distance ratio |",
             "| --- |" + " ---: |" * len(extra) + " --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ratio = "-" if np.isnan(r.get("support_ratio", np.nan)) else (
            f"{r['support_ratio']:.2f} ± {r['support_ratio_ci95']:.2f}")
        lines.append(f"| {label(r)} | {r['dataset']} | {r['nll']:.3f} ± {r['nll_ci95']:.3f} | "
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
                  "| Algorithm | " + "".join(f"{title} | " for _, title in extra)
                  + " | ".join(classes) + " |",
                  "| --- |" + " ---: |" * (len(extra) + len(classes))]
        for r in rows:
            cells = [f"{r['per_class'][c]['accuracy']:.3f} ({r['per_class'][c]['tasks']})"
                     if c in r.get("per_class", {}) else "-" for c in classes]
            lines.append(f"| {label(r)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
