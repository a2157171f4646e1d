"""First- vs second-order meta-gradients of a MAML-GAN run, along its checkpoints.

Why second-order MAML-GAN learns less per meta-update than first order at the CPU recipe's
settings (``docs/results/second_order_maml_gan.md``): for each kept checkpoint of the run in
``--workdir`` (and its initialization, step 0) and each inner-loop variant, on ``--tasks``
meta-train tasks (the same tasks for every checkpoint and variant), prints one JSON line with,
per player:

* ``cos``, ``first_norm``, ``second_norm``: the cosine between the first- and second-order
  meta-gradients and their norms; ``extra_ratio``: ||second - first|| / ||first||, the size of
  the second-order terms; ``layers``: the same per variable (``[name, cos, first, second]``);
* ``descent``: the change of the player's own (exact) meta-loss on *other* meta-train tasks
  after a sign step of ``--probe_lr`` along each gradient (what an outer RMSprop's first steps
  do), the other player held fixed: negative is progress; the useful gradient is the one
  that goes further down;
* ``gain`` (RMSprop variants): per inner step, quantiles of the per-coordinate derivative of
  the update ``lr g / (sqrt(v) + eps)`` with respect to the gradient ``g`` (``v`` included):
  SGD's is the constant lr; RMSprop's reaches ``lr / eps`` where gradients are tiny, which is
  how the product of the inner-step Jacobians ``I - gain * Hessian`` explodes.

Variants (``--variants``, comma-separated): ``run`` (the run's own inner optimizer, with its
``--inner_epsilon``),
``rmsprop:LR:EPS``, ``sgd:LR``, ``adam:LR``; suffix ``@final`` uses the final-step loss
(``--step_weights=final``) instead of the run's. Example::

    python -m bench.meta_gradients --workdir=runs/mnist_fomaml \\
        --variants=run,rmsprop:4e-3:1e-3,rmsprop:1e-4:1e-7,sgd:1e-2,run@final

Takes about 20 s per checkpoint and variant for the CPU recipe's widths on a 2-core CPU.
"""

from __future__ import annotations

import json
import os

from absl import app, flags

from trainers import common

flags.DEFINE_string("workdir", None, "MAML-GAN run directory (checkpoints/ and config.json).",
                    required=True)
flags.DEFINE_list("variants", ["run"], "Inner loops to compare: run, rmsprop:LR:EPS, sgd:LR, "
                  "adam:LR, each optionally with @final (final-step meta-loss).")
flags.DEFINE_list("steps", [], "Checkpoint steps to measure (default: 0 and every kept one).")
flags.DEFINE_integer("tasks", 3, "Meta-train tasks per measurement.", lower_bound=1)
flags.DEFINE_float("probe_lr", 1e-3, "Sign-step size of the descent probe (0: no probe).",
                   lower_bound=0.0)
flags.DEFINE_integer("seed", 123, "Seed of the measured tasks.")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the run's).")
FLAGS = flags.FLAGS


def parse_variant(spec: str, config):
    """``(label, {player: InnerOptimizer}, step_weights, rmsprop (lr, eps) or None)``."""
    from tfmeta import inner as inner_lib
    body, _, weights = spec.partition("@")
    weights = weights or config.step_weights
    parts = body.split(":")
    lrs = config.inner_lrs()
    try:
        if parts[0] == "run":
            if config.algorithm in ("metasgd", "reptile"):
                raise ValueError(f"variant 'run' needs a maml/fomaml run, not {config.algorithm}")
            name, extra = config.inner_optimizer, config.inner_kwargs(config.inner_optimizer)
            inner = {p: inner_lib.get(name, learning_rate=lrs[p], **extra) for p in lrs}
            rms = ({p: (lrs[p], extra["epsilon"]) for p in lrs} if name == "rmsprop"
                   else None)
        elif parts[0] == "rmsprop" and len(parts) == 3:
            lr, eps = float(parts[1]), float(parts[2])
            inner = {p: inner_lib.rmsprop(lr, epsilon=eps) for p in lrs}
            rms = {p: (lr, eps) for p in lrs}
        elif parts[0] in ("sgd", "adam") and len(parts) == 2:
            inner = {p: inner_lib.get(parts[0], learning_rate=float(parts[1])) for p in lrs}
            rms = None
        else:
            raise ValueError("unknown form")
    except ValueError as e:
        raise ValueError(f"--variants: {spec!r} is not run, rmsprop:LR:EPS, sgd:LR or adam:LR "
                         f"(optionally @final): {e}") from None
    return spec, inner, weights, rms


def _flat(gs):
    import tensorflow as tf
    return tf.concat([tf.reshape(g, [-1]) for g in gs], 0)


def _cos(a, b) -> float:
    import tensorflow as tf
    return float(tf.reduce_sum(a * b) / (tf.norm(a) * tf.norm(b) + 1e-30))


def gain_quantiles(objective, params, task, inner, rms, steps):
    """Per inner step, quantiles of d(update)/d(g) of RMSprop, from the optimizer's states."""
    import numpy as np
    import tensorflow as tf
    from tfmeta.algorithms.adapt import INNER_STREAM, step_seed, take_step
    from tfmeta.types import batch_at
    states = {p: inner[p].init(params[p]) for p in params}
    current = dict(params)
    out = {p: [] for p in params}
    seed = tf.constant([0, 0], tf.int32)
    for j in range(steps):
        new, new_states, _ = take_step(objective, inner, current, states,
                                       batch_at(task.inner, j), step_seed(seed, INNER_STREAM, j))
        for p in params:
            lr, eps = rms[p]
            v_old = np.concatenate([s.numpy().ravel() for s in states[p]])
            v = np.concatenate([s.numpy().ravel() for s in new_states[p]])
            g2 = np.maximum((v - 0.9 * v_old) / 0.1, 0.0)
            s = np.sqrt(v)
            gain = lr / (s + eps) - lr * 0.1 * g2 / (np.maximum(s, 1e-30) * (s + eps) ** 2)
            q = np.quantile(np.abs(gain), [0.5, 0.9, 0.99, 1.0])
            out[p].append([float(f"{x:.3g}") for x in q])
        current, states = new, new_states
    return {p: {"quantiles": "median, p90, p99, max of |d update / d g| per inner step",
                "lr": rms[p][0], "lr_over_eps": rms[p][0] / rms[p][1], "steps": out[p]}
            for p in params}


def measure(setup, tasks, probe_tasks, variant, config, probe_lr):
    import tensorflow as tf
    from tfmeta.algorithms.maml import maml_losses, meta_gradients
    from tfmeta.types import task_at
    label, inner, weights, rms = variant
    players = ("discriminator", "generator")
    variables = {"generator": setup.generator.trainable_variables,
                 "discriminator": setup.discriminator.trainable_variables}
    names = {p: [v.path for v in variables[p]] for p in players}
    sums = {o: {p: None for p in players} for o in ("first", "second")}
    per_task = {p: [] for p in players}
    for t in range(tasks.inner.shape[0]):
        task = task_at(tasks, t)
        g = {}
        for order, first in (("first", True), ("second", False)):
            g[order], _, _ = meta_gradients(setup.objective, variables, task, inner,
                                            inner_steps=config.inner_steps, first_order=first,
                                            step_weights=weights)
            for p in players:
                acc = sums[order][p]
                sums[order][p] = list(g[order][p]) if acc is None else [
                    a + b for a, b in zip(acc, g[order][p])]
        for p in players:
            a, b = _flat(g["first"][p]), _flat(g["second"][p])
            per_task[p].append(round(_cos(a, b), 3))
    row = {"variant": label, "step_weights": weights}
    for p in players:
        first, second = sums["first"][p], sums["second"][p]   # summed over tasks
        a, b = _flat(first), _flat(second)
        n = tasks.inner.shape[0]
        row[p] = {"cos": round(_cos(a, b), 3), "cos_per_task": per_task[p],
                  "first_norm": float(f"{float(tf.norm(a)) / n:.4g}"),
                  "second_norm": float(f"{float(tf.norm(b)) / n:.4g}"),
                  "extra_ratio": float(f"{float(tf.norm(b - a) / tf.norm(a)):.4g}"),
                  "layers": [[names[p][i], round(_cos(_flat([x]), _flat([y])), 3),
                              float(f"{float(tf.norm(x)) / n:.3g}"),
                              float(f"{float(tf.norm(y)) / n:.3g}")]
                             for i, (x, y) in enumerate(zip(first, second))]}
    if probe_lr > 0:
        def meta_loss(params):
            total = {p: 0.0 for p in players}
            for t in range(probe_tasks.inner.shape[0]):
                m = maml_losses(setup.objective, params, task_at(probe_tasks, t), inner,
                                inner_steps=config.inner_steps, step_weights=weights)
                for p in players:
                    total[p] += float(m[p]) / probe_tasks.inner.shape[0]
            return total
        base_params = {p: [tf.convert_to_tensor(v) for v in variables[p]] for p in players}
        base = meta_loss(base_params)
        for p in players:
            row[p]["descent"] = {}
            for order in ("first", "second"):
                moved = dict(base_params)
                moved[p] = [v - probe_lr * tf.sign(gi)
                            for v, gi in zip(base_params[p], sums[order][p])]
                row[p]["descent"][order] = float(f"{meta_loss(moved)[p] - base[p]:.4g}")
    if rms is not None:
        params = {p: [tf.convert_to_tensor(v) for v in variables[p]] for p in players}
        gains = gain_quantiles(setup.objective, params, task_at(tasks, 0), inner, rms,
                               config.inner_steps)
        for p in players:
            row[p]["gain"] = gains[p]
    return row


def main(argv):
    del argv
    import dataclasses
    import tensorflow as tf
    from tfmeta.data import MetaBatchSampler
    from tfmeta.experiments import maml_gan
    config = maml_gan.read_config(FLAGS.workdir)
    if FLAGS.data_dir:
        config = dataclasses.replace(config, data_dir=FLAGS.data_dir)
    try:
        variants = [parse_variant(s, config) for s in FLAGS.variants]
    except ValueError as e:
        raise SystemExit(f"error: {common.to_flags(str(e))}") from None
    splits = maml_gan.load_data(config)
    setup = maml_gan.build(config, splits.train.image_shape)
    ckpt_dir = os.path.join(FLAGS.workdir, "checkpoints")
    kept = {int(p.rsplit("-", 1)[1]): p for p in
            tf.train.get_checkpoint_state(ckpt_dir).all_model_checkpoint_paths}
    steps = [int(s) for s in FLAGS.steps] or [0, *sorted(kept)]
    missing = [s for s in steps if s and s not in kept]
    if missing:
        raise SystemExit(f"error: --steps {missing} not among the kept checkpoints {sorted(kept)}")
    sampler = MetaBatchSampler(splits.train, tasks=FLAGS.tasks, inner_steps=config.inner_steps,
                               batch_size=config.batch_size, seed=FLAGS.seed)
    tasks, probe = sampler(0), sampler(1)
    initial = {p: [tf.identity(v) for v in m.trainable_variables]
               for p, m in (("generator", setup.generator),
                            ("discriminator", setup.discriminator))}
    for step in steps:
        if step == 0:
            for p, m in (("generator", setup.generator), ("discriminator", setup.discriminator)):
                for v, x in zip(m.trainable_variables, initial[p]):
                    v.assign(x)
        else:
            setup.checkpoint.restore(kept[step]).expect_partial()
        for variant in variants:
            row = measure(setup, tasks, probe, variant, config, FLAGS.probe_lr)
            print(json.dumps({"workdir": FLAGS.workdir, "step": step, **row}), flush=True)


if __name__ == "__main__":
    app.run(main)
