"""Measurements of a MAML-GAN run's players that gan_ten_steps.md and omniglot_maml_gan.md quote.

    python docs/results/gan_diagnostics.py critic_units --run=runs/s6/omni_figr_1800
    python docs/results/gan_diagnostics.py gradients --run=runs/s6/omni_figr_1800 [--tasks=8]
    python docs/results/gan_diagnostics.py cosine --run=runs/s22/so --checkpoint=2700 [--tasks=8]

critic_units, at every checkpoint the run kept: the discriminator's second convolution's bias,
and for each convolution the share of its pre-activations that are positive on held-out real
images (16 images of each of the first 16 classes) and the share of its units that never change
side of the LeakyReLU on them. Such a unit is linear on the data; where every unit of a layer is,
the layer is one linear map and the critic is a shallower one.

gradients, at the latest checkpoint: for each of ``--tasks`` held-out classes (drawn with a fixed
seed) one inner step of plain SGD at rate 1 on ``batch_size`` of the class's images, so the step
is minus the gradient; both players step from the same parameters (the simultaneous order), so
the generator's gradient is taken against the discriminator it starts with. Per parameter
tensor: the median and 90th percentile of ``|g|``, the share of entries under 1e-3, and the
median first step of a fresh Adam with epsilon 1e-3 as a share of its learning rate,
``|g| / (|g| + 1e-3)`` (with epsilon 1e-7 that share is 1 for nearly every entry: the first
step is ``lr * sign(g)``).

cosine, at ``--checkpoint`` (default: the latest): for ``--tasks`` meta-train tasks (meta-batches
of 4 drawn with seed 123, the tasks in order), each player's first- and second-order
meta-gradient over the run's ``inner_steps`` with the run's objective, once with the run's own
inner optimizer (the rates it meta-trains with, or with ``--adapting`` the ones it adapts with
after meta-training, ``adapt_lr_scale``; its epsilon and meta-learned layer scales) and once with
paper 000's inner RMSprop at 1e-4 (``--optimizers`` picks one); one JSON line per task: per
player the cosine between the two and both norms, ``[cosine, first-order norm, second-order
norm]`` (after ../shared/notes/meta_grad_cosine.py, which takes 3 tasks and more optimizers).
"""
import argparse
import dataclasses
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))   # the project root

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmeta import inner as inner_lib  # noqa: E402
from tfmeta.algorithms.maml import meta_gradients  # noqa: E402
from tfmeta.data import MetaBatchSampler  # noqa: E402
from tfmeta.experiments import rundir  # noqa: E402
from tfmeta.experiments.maml_gan import adaptation  # noqa: E402
from tfmeta.experiments.maml_gan.build import build, load_data  # noqa: E402
from tfmeta.experiments.maml_gan.run import read_config  # noqa: E402
from tfmeta.types import Reused, task_at  # noqa: E402


def critic_units(setup, splits, run: str) -> list[dict]:
    """Per checkpoint: ``step``, ``conv2_bias`` (mean, min) and, per LeakyReLU's input layer,
    ``layers[name] = (share of positive pre-activations, share of linear units)``."""
    shape = splits.test.image_shape
    images = tf.reshape(splits.test.images[:16, :16], (-1, *shape))
    layers = [layer for layer in setup.discriminator.layers
              if layer.__class__.__name__ != "InputLayer"]
    rows = []
    for path in rundir.checkpoint_paths(run):   # numbered by the meta-update, oldest first
        step = int(path.rsplit("-", 1)[-1])
        setup.checkpoint.restore(path).expect_partial()
        h, shares = images, {}
        for layer in layers:
            h = layer(h)
            if layer.name.endswith("_lrelu"):   # what went in was the pre-activation
                positive = (pre > 0).reshape(-1, pre.shape[-1])
                linear = positive.all(axis=0) | (~positive).all(axis=0)
                shares[name] = (float(positive.mean()), float(linear.mean()))
            pre, name = h.numpy(), layer.name
        bias = setup.discriminator.get_layer("conv2").bias.numpy()
        rows.append({"step": step, "conv2_bias": (float(bias.mean()), float(bias.min())),
                     "layers": shares})
    return rows


def gradients(setup, splits, tasks: int) -> dict[str, list[tuple[str, np.ndarray]]]:
    """``{player: [(variable path, |g| of every entry over the tasks)]}`` at the restored
    parameters."""
    params = adaptation.params_of(setup)
    sgd = inner_lib.get("sgd", learning_rate=1.0)
    rng = np.random.default_rng(0)
    grads = {p: [] for p in params}
    for t in range(tasks):
        c = int(rng.integers(splits.test.num_classes))
        images = tf.convert_to_tensor(splits.test.images[c][:setup.config.batch_size])
        stepped = adaptation.adaptation_trajectory(setup, params, Reused(images), [t, 0], 1,
                                                   inner=sgd)[-1]
        for p in params:
            grads[p].append([np.abs((a - b).numpy()) for a, b in zip(params[p], stepped[p])])
    models = {"generator": setup.generator, "discriminator": setup.discriminator}
    return {p: [(v.path, np.concatenate([task[i].ravel() for task in grads[p]]))
                for i, v in enumerate(models[p].trainable_variables)] for p in models}


def cosines(setup, splits, tasks: int, which: str = "both"):
    """Yields ``(inner optimizer's label, task, {player: [cosine, |first|, |second|]})``;
    ``which``: the run's inner optimizer, paper 000's, or both."""
    config = setup.config
    sampler = MetaBatchSampler(splits.train, tasks=4, inner_steps=config.inner_steps,
                               batch_size=config.batch_size, seed=123)
    variables = {"generator": setup.generator.trainable_variables,
                 "discriminator": setup.discriminator.trainable_variables}
    flat = lambda gs: tf.concat([tf.reshape(g, [-1]) for g in gs], 0)  # noqa: E731
    variants = {"run": ("run", setup.inner),
                "paper": ("rmsprop 1e-4", {p: inner_lib.rmsprop(1e-4) for p in variables})}
    for label, inner in (v for key, v in variants.items() if which in (key, "both")):
        for t in range(tasks):
            task = task_at(sampler(t // 4), t % 4)
            first, second = (meta_gradients(setup.objective, variables, task, inner,
                                            inner_steps=config.inner_steps,
                                            first_order=order)[0] for order in (True, False))
            row = {}
            for p in sorted(variables):
                a, b = flat(first[p]), flat(second[p])
                row[p] = [round(float(tf.reduce_sum(a * b) / (tf.norm(a) * tf.norm(b))), 3),
                          round(float(tf.norm(a)), 3), round(float(tf.norm(b)), 3)]
            yield label, t, row


def _print_units(rows: list[dict]) -> None:
    for row in rows:
        mean, low = row["conv2_bias"]
        print(" | ".join([f"{row['step']:6d}", f"conv2 bias mean {mean:+.3f} min {low:+.3f}"] +
                         [f"{name}: positive {pos:.3f}, linear units {lin:.2f}"
                          for name, (pos, lin) in row["layers"].items()]))


def _print_gradients(found: dict) -> None:
    for player, entries in found.items():
        print(player)
        for path, g in entries:
            print(f"  {path:20s} median |g| {np.median(g):.2e}  p90 {np.quantile(g, 0.9):.2e}  "
                  f"under 1e-3 {np.mean(g < 1e-3):.2f}  "
                  f"Adam eps 1e-3 first step {np.median(g / (g + 1e-3)):.2f} lr")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measure", choices=("critic_units", "gradients", "cosine"))
    parser.add_argument("--run", required=True, help="a maml_gan workdir with checkpoints")
    parser.add_argument("--tasks", type=int, default=8,
                        help="gradients: held-out classes; cosine: meta-train tasks")
    parser.add_argument("--optimizers", choices=("both", "run", "paper"), default="both",
                        help="cosine: the run's inner optimizer, paper 000's, or both")
    parser.add_argument("--adapting", action="store_true",
                        help="cosine: the run's inner rates as it adapts after meta-training "
                             "(its adapt_lr_scale), not as it meta-trains")
    parser.add_argument("--checkpoint", type=int, default=None,
                        help="gradients, cosine: the meta-update of a kept checkpoint "
                             "(default: the latest)")
    parser.add_argument("--data_dir", default=os.environ.get(
        "TFDS_DATA_DIR", os.path.join("..", "shared", "tensorflow_datasets")),
                        help="TFDS data dir (default: $TFDS_DATA_DIR, else "
                             "../shared/tensorflow_datasets)")
    args = parser.parse_args()
    overrides = {"data_dir": args.data_dir, "download": False}
    if args.measure == "gradients":
        overrides["inner_order"] = "simultaneous"
    config = dataclasses.replace(read_config(args.run), **overrides)
    if args.adapting:
        config = config.adapting()
    latest = rundir.latest_checkpoint(args.run)
    if latest is None:
        raise SystemExit(f"--run={args.run}: no checkpoint in {args.run}/checkpoints")
    path = latest[0]
    if args.checkpoint is not None:
        kept = {int(p.rsplit("-", 1)[-1]): p for p in rundir.checkpoint_paths(args.run)}
        if args.checkpoint not in kept:
            raise SystemExit(f"--checkpoint={args.checkpoint}: {args.run} keeps checkpoints "
                             f"{sorted(kept)}; pick one of them")
        path = kept[args.checkpoint]
    splits = load_data(config)
    setup = build(config, splits.train.image_shape)
    if args.measure == "critic_units":
        _print_units(critic_units(setup, splits, args.run))
        return
    setup.checkpoint.restore(path).expect_partial()
    if args.measure == "cosine":
        print("checkpoint", int(setup.checkpoint.step.numpy()), "inner rates",
              config.inner_lrs(), flush=True)
        for label, t, row in cosines(setup, splits, args.tasks, args.optimizers):
            print(label, t, json.dumps(row), flush=True)
        return
    _print_gradients(gradients(setup, splits, args.tasks))


if __name__ == "__main__":
    main()
