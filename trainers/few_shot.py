r"""``python -m trainers.few_shot``: meta-train an N-way K-shot classifier (MAML, metric learners).

Meta-trains Conv-4 on the training classes of a dataset (Omniglot's 1200
characters by default) with MAML, first-order MAML, Meta-SGD, Reptile, MAML++
options, the LSTM meta-learner, HSML or MeGAN (which also writes
``samples.png``) -- or trains a metric learner on the same episodes
(Prototypical, Matching, Relation or Siamese networks), or pre-trains a
classifier over every training class (``--algorithm=baseline``) -- and scores
``--eval_episodes`` held-out episodes every ``--eval_every`` updates: the
learning curve, ``WORKDIR/curve.json`` and ``WORKDIR/curve.png``. The defaults
are the CPU recipe (5-way 1-shot MAML, about 30 minutes on 2 cores); metric
learners and MeGAN take their own CPU recipes for the flags not given;
``--preset=paper`` takes the published settings (for a GPU). A flag given on
the command line always wins. Rerunning in the same ``--workdir`` resumes the
run with its stored settings. Ctrl-C (or SIGTERM) checkpoints after the running
update and exits with status 130.

Example:
    python -m trainers.few_shot --dataset=omniglot --ways=5 --shots=1 --algorithm=maml \
        --workdir=runs/omniglot_5w1s
"""

from __future__ import annotations

import dataclasses
import os

from trainers import shell

if __name__ == "__main__":
    shell.quiet_start()   # before TensorFlow is imported

with shell.native_logs_filtered():
    from tfmeta.experiments import few_shot as experiment  # noqa: E402
    from tfmeta.experiments import rundir  # noqa: E402
    from tfmeta.experiments.few_shot.fields import InnerLoopFields  # noqa: E402
    from tfmeta.experiments.few_shot.fields.shared import BENCHMARK_DATASETS  # noqa: E402
    from tfmeta.experiments.few_shot.run import check_workdir  # noqa: E402


def describe(config: experiment.FewShotConfig) -> str:
    """The banner's first lines: the learner, its settings and the data."""
    data = config.folder if config.dataset == "folder" else (
        f"omniglot ({config.split} split)" if config.dataset == "omniglot" else config.dataset)
    if config.dataset in BENCHMARK_DATASETS:
        data = f"{config.dataset} from {config.data_dir}"
    spec = experiment.learners.get(config.algorithm)
    if "batch_size" in spec.fields:   # the pre-trained baseline: no episodes in training
        training = (f"training: mini-batches of {config.batch_size} images of every training "
                    f"class, augment={config.augment}; {config.baseline_optimizer} "
                    f"lr={config.outer_lr} ({config.outer_lr_schedule}) weight_decay="
                    f"{config.weight_decay:g} steps={config.steps} backbone={config.backbone} "
                    f"filters={config.filters}; "
                    f"episodes scored by head={config.baseline_head}" + (
                        f" ({config.finetune_steps} steps at {config.finetune_lr:g})"
                        if config.baseline_head == "finetune" else ""))
    elif not spec.inner_loop:
        extras = "".join(f" {k}={getattr(config, k)}" for k in ("fce", "fce_steps") if config.fce)
        if config.algorithm == "matching":
            extras += f" matching_scale={config.matching_scale:g}"
        training = (f"training episodes: {config.training_ways}-way {config.shots}-shot "
                    f"{config.training_queries} queries, {config.meta_batch_size} per update; "
                    f"lr={config.outer_lr} ({config.outer_lr_schedule}) steps={config.steps} "
                    f"pooling={config.pooling} filters={config.filters}{extras}")
    else:
        default = experiment.FewShotConfig()
        own = [f.name for block in spec.blocks if block is not InnerLoopFields
               for f in dataclasses.fields(block) if f.name in spec.fields]   # MeGAN's
        extras = "".join(f" {k}={getattr(config, k)}" for k in (
            "adapt", "per_step_lr", "per_step_bn", "first_order_steps", "step_weights")
            if getattr(config, k) != getattr(default, k)) + "".join(
            f" {k}={getattr(config, k)}" for k in own)
        training = (f"steps={config.steps} meta_batch_size={config.meta_batch_size} "
                    f"inner_steps={config.inner_steps} (test: {config.eval_inner_steps}) "
                    f"inner_lr={config.inner_lr} outer_lr={config.outer_lr} "
                    f"({config.outer_lr_schedule}) queries={config.queries} "
                    f"filters={config.filters}{extras}")
    return (f"few_shot: {config.ways}-way {config.shots}-shot algorithm={config.algorithm} "
            f"{training}\ndata: {data}; curve: {config.eval_episodes} held-out episodes every "
            f"{config.eval_every} {'meta-updates' if spec.inner_loop else 'updates'}")


def report(result, config: experiment.FewShotConfig, workdir: str) -> str:
    """The last lines: the final curve point, where the files are, the next command."""
    curve, score = experiment.read_curve(workdir), "no curve point"
    if curve:
        p = curve[-1]
        adapted = "" if not experiment.learners.get(config.algorithm).inner_loop else (
            f", {p.get('inner_steps', config.eval_inner_steps)} inner steps")
        score = (f"held-out accuracy at step {p['step']}: {100 * p['accuracy']:.2f} +- "
                 f"{100 * p['ci95']:.2f}% ({p['episodes']} episodes{adapted})")
    where = os.path.abspath(workdir)
    budget = ""
    if config.max_minutes and result.step < config.steps and not result.interrupted:
        budget = f" (--max_minutes={config.max_minutes:g} ended it)"
    return (f"done: step {result.step} of {config.steps}{budget} in {where}; {score}\n"
            f"curve: {os.path.join(where, 'curve.png')} ({experiment.CURVE_FILE}); tensorboard "
            f"--logdir {os.path.join(where, 'tensorboard')}\n"
            f"next: python -m trainers.few_shot_eval --runs={workdir} --episodes=600 "
            f"--out={os.path.join(workdir, 'eval.json')}")


def first_curve(config, workdir: str, step: int) -> str:
    if experiment.read_curve(workdir) or step:
        return ""
    return f"scoring {config.eval_episodes} held-out episodes for the curve at step 0"


TRAINER = shell.Trainer(
    name="few_shot", doc=__doc__, config=experiment.FewShotConfig, presets=experiment.PRESETS,
    default_preset="cpu",
    run=lambda config, workdir, hooks, preset, strategy: experiment.run(
        config, workdir, hooks.step, on_event=hooks.event, stop=hooks.stop,
        on_curve=hooks.curve, preset=preset, strategy=strategy),
    describe=describe, report=report, distribute=True,
    workdir_help="config.json, checkpoints/, tensorboard/, curve.json, curve.png",
    check_workdir=check_workdir,
    unit=lambda c: "meta-update" if experiment.learners.get(c.algorithm).inner_loop else "update",
    latest_checkpoint=rundir.latest_checkpoint,
    stored=rundir.stored_settings,
    postfix={"loss": "meta_loss/model"},
    curve_postfix=lambda p: {"acc": f"{100 * p['accuracy']:.1f}%"},
    curve_line=lambda p: (f"step {p['step']}: held-out accuracy {100 * p['accuracy']:.2f} +- "
                          f"{100 * p['ci95']:.2f}%"),
    on_data=first_curve,
    pause=lambda config, step: ("scoring held-out episodes" if step % config.eval_every == 0
                                or step == config.steps else None))
main = TRAINER.main

if __name__ == "__main__":
    TRAINER.start()
