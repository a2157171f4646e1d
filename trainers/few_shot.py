r"""``python -m trainers.few_shot``: meta-train an N-way K-shot classifier (MAML, metric learners).

Meta-trains Conv-4 on the training classes of a dataset (Omniglot's 1200
characters by default) with MAML, first-order MAML, Meta-SGD, Reptile or MAML++
options, or MeGAN (an N+1-way Conv-4 and a generator meta-learned together; a
MeGAN run also writes ``samples.png``, the generator's images of held-out
support sets) -- or trains a metric learner on the same episodes (Prototypical,
Matching, Relation or Siamese networks: a Conv-4 embedding and comparison) --
and scores ``--eval_episodes`` held-out episodes every
``--eval_every`` meta-updates: the learning curve, ``WORKDIR/curve.json`` and
``WORKDIR/curve.png``. The defaults are the CPU recipe (5-way 1-shot MAML,
about 30 minutes on 2 cores); a metric learner (``few_shot.METRIC_CPU``) and
MeGAN (``few_shot.MEGAN_CPU``) take their own CPU recipes for the flags not
given; ``--preset=paper`` takes the published settings of the ways/shots given
(for a GPU). A flag given on the command line always wins. Rerunning in the
same ``--workdir`` resumes the run from its last checkpoint with its stored
settings. Ctrl-C (or SIGTERM) checkpoints after the running meta-update and
exits with status 130.

Example:
    python -m trainers.few_shot --dataset=omniglot --ways=5 --shots=1 --algorithm=maml \
        --workdir=runs/omniglot_5w1s
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402

with common.native_logs_filtered():
    from tfmeta.experiments import few_shot as lib  # noqa: E402
    from tfmeta.classify import PLAYER  # noqa: E402
    from tfmeta.experiments.few_shot import config as config_lib  # noqa: E402

_D = lib.FewShotConfig()
# Published Omniglot accuracies, percent, by algorithm and (ways, shots): MAML (Finn et al. 2017),
# Prototypical (Snell et al. 2017), Matching (Vinyals et al. 2016), Relation (Sung et al. 2018),
# Siamese (Koch et al. 2015, as reported by Vinyals et al.).
_SETTINGS = ((5, 1), (5, 5), (20, 1), (20, 5))
PUBLISHED = {
    "maml": ("MAML (Finn et al. 2017)", (98.7, 99.9, 95.8, 98.9)),
    "protonet": ("Prototypical (Snell et al. 2017)", (98.8, 99.7, 96.0, 98.9)),
    "matching": ("Matching (Vinyals et al. 2016)", (98.1, 98.9, 93.8, 98.5)),
    "relation": ("Relation (Sung et al. 2018)", (99.6, 99.8, 97.6, 99.1)),
    "siamese": ("Siamese (Koch et al. 2015, by Vinyals et al.)", (97.3, 98.4, 88.2, 97.0)),
}


def published(algorithm: str, ways: int, shots: int) -> tuple[str, float] | None:
    """``(who, percent)`` published on Omniglot for the algorithm's setting, or None."""
    who, values = PUBLISHED.get(algorithm, PUBLISHED["maml"] if algorithm in (
        "fomaml", "metasgd", "reptile", "megan") else (None, ()))
    table = dict(zip(_SETTINGS, values))
    return (who, table[(ways, shots)]) if (ways, shots) in table else None


def _paper(name: str) -> str:
    values = sorted({f"{v}" for v in (s[name] for s in lib.PAPER.values())})
    return f" (--preset=paper: {'/'.join(values)})" if values else ""


flags.DEFINE_string("workdir", None, "(required) Run directory: config.json, checkpoints/, "
                    "tensorboard/, curve.json, curve.png. An existing run there is resumed.",
                    required=True)
flags.DEFINE_enum("preset", "cpu", ["cpu", "paper"], "Settings every flag not given takes: "
                  "cpu (the defaults shown here: the CPU recipe, about 30 minutes on 2 cores "
                  "for 5-way 1-shot) or paper (MAML's published settings for the given --ways "
                  "and --shots: 5w1s, 5w5s, 20w1s, 20w5s; hours on a GPU). A resumed run keeps "
                  "its stored settings unless --preset is given.")
flags.DEFINE_enum("dataset", _D.dataset, list(config_lib.DATASETS), "Classes of the episodes: "
                  "omniglot (characters x 4 rotations, 28x28), fashion_mnist, mnist, or folder "
                  "(--folder: one sub-folder of images per class, 70% of the classes train).")
flags.DEFINE_enum("split", _D.split, list(config_lib.SPLITS), "Omniglot split: classification "
                  "(1200 training / 423 test characters, the split the papers report on) or "
                  "background (964 background / 659 evaluation characters, paper 000's).")
flags.DEFINE_string("folder", _D.folder, "--dataset=folder: a directory with one sub-folder "
                    "of images per class.")
flags.DEFINE_string("data_dir", None, "TFDS data directory. Default: $TFDS_DATA_DIR, else "
                    "../shared/tensorflow_datasets next to the project if present, else TFDS's "
                    "default (~/tensorflow_datasets).")
flags.DEFINE_bool("download", _D.download, "Let TFDS download the dataset if it is missing "
                  "(--nodownload when offline).")
flags.DEFINE_integer("image_size", _D.image_size, "Images are resized to this square size "
                     "(Omniglot in the papers: 28).")
flags.DEFINE_integer("ways", _D.ways, "N: classes per episode (papers: 5 or 20).")
flags.DEFINE_integer("shots", _D.shots, "K: support images per class (papers: 1 or 5).")
flags.DEFINE_integer("queries", _D.queries, "Query images per class, scored by the meta-loss "
                     "and by evaluation (papers: 15).")
flags.DEFINE_enum("algorithm", _D.algorithm, list(lib.ALGORITHMS), "maml: second-order MAML; "
                  "fomaml: first order; metasgd: learned per-parameter inner rates; meta_lstm: the "
                  "LSTM meta-learner of Ravi and Larochelle (learned input and forget gates, "
                  "input gate starting at --inner_lr); hsml: MAML from an initialization gated "
                  "per task by a task representation and its soft clusters (Yao et al. 2019); "
                  "reptile: "
                  "inner SGD on support and query images, outer SGD step of --outer_lr along "
                  "init - adapted. MAML++ is maml with --per_step_lr, --per_step_bn, "
                  "--first_order_steps, --step_weights=annealed and --outer_lr_schedule=cosine. "
                  "Metric learners (a Conv-4 embedding trained with Adam at --outer_lr; the "
                  "inner-loop flags do not apply): protonet (class means, squared Euclidean "
                  "distance), matching (cosine attention over the support; --fce), relation "
                  "(a learned relation module on feature maps, MSE to one-hot), siamese "
                  "(same/different pairs; a query takes the class of its most similar support "
                  "image). Each metric learner has its own CPU recipe for flags not given. "
                  "megan (paper 001): MAML whose N+1-way classifier (the classes and 'fake') "
                  "also adapts on a meta-learned generator's images of the support set; its "
                  "own CPU recipe (5 inner steps) for flags not given.")
flags.DEFINE_integer("train_ways", _D.train_ways, "Metric learners: classes per training "
                     "episode (0: --ways; Prototypical networks train 60-way to test 5-way).")
flags.DEFINE_integer("train_queries", _D.train_queries, "Metric learners: query images per "
                     "class of a training episode (0: --queries; the prototypical recipe: 5).")
flags.DEFINE_bool("fce", _D.fce, "--algorithm=matching: full context embeddings (a "
                  "bidirectional LSTM over the support set, an attention LSTM per query).")
flags.DEFINE_integer("fce_steps", _D.fce_steps, "--fce: processing steps of the attention "
                     "LSTM.")
flags.DEFINE_bool("first_order", _D.first_order, "--algorithm=megan: first-order meta-gradient "
                  "(needs --outer_loss=hybrid or fakes; taken as hybrid when not given).")
flags.DEFINE_enum("conditioning", _D.conditioning, list(config_lib.CONDITIONINGS),
                  "--algorithm=megan: what the generator is conditioned on: image (the support "
                  "image it augments; the paper's most stable), prototype (its class's mean "
                  "encoder features), label (one-hot) or none (noise only).")
flags.DEFINE_float("real_weight", _D.real_weight, "--algorithm=megan: weight of the real "
                   "support images in the classifier's inner loss (paper: 3, against "
                   "--fake_weight's 1).")
flags.DEFINE_float("fake_weight", _D.fake_weight, "--algorithm=megan: weight of the generated "
                   "images (labelled 'fake') in the classifier's inner loss (paper: 1, against "
                   "--real_weight's 3).")
flags.DEFINE_integer("fakes_from", _D.fakes_from, "--algorithm=megan: the first inner step "
                     "(0-based) whose classifier loss includes generated images (paper: 2, the "
                     "third of five); must be below --inner_steps.")
flags.DEFINE_enum("outer_loss", _D.outer_loss, list(config_lib.OUTER_LOSSES),
                  "--algorithm=megan: the meta-loss: real (the adapted classifier on the real "
                  "queries, for both players; the paper's best), fakes (plus the adapted "
                  "generator's images labelled fake) or hybrid (the generator's is its GAN loss "
                  "against the adapted classifier).")
flags.DEFINE_float("generator_inner_lr", _D.generator_inner_lr, "--algorithm=megan: the "
                   "generator's inner SGD rate (paper: 0.4 gave realistic images, 0.001 not).")
flags.DEFINE_integer("generator_filters", _D.generator_filters, "--algorithm=megan: the "
                     "generator's base width.")
flags.DEFINE_integer("noise_dim", _D.noise_dim, "--algorithm=megan: size of the generator's "
                     "noise vector.")
flags.DEFINE_integer("meta_batch_size", _D.meta_batch_size, "Episodes (tasks) per "
                     "meta-update" + _paper("meta_batch_size") + "; metric learners: "
                     "episodes per update.")
flags.DEFINE_integer("inner_steps", _D.inner_steps, "Inner SGD steps on the support set during "
                     "meta-training" + _paper("inner_steps") + ".")
flags.DEFINE_integer("eval_inner_steps", _D.eval_inner_steps, "Inner steps at test time (the "
                     "curve and trainers.few_shot_eval's default; MAML used 3 and 10)"
                     + _paper("eval_inner_steps") + ".")
flags.DEFINE_float("inner_lr", _D.inner_lr, "Inner SGD learning rate (Meta-SGD, --per_step_lr: "
                   "the learned rates' initial value)" + _paper("inner_lr") + ".")
flags.DEFINE_float("outer_lr", _D.outer_lr, "Outer learning rate: Adam's (maml, fomaml, "
                   "metasgd; papers: 1e-3) or Reptile's SGD step size.")
flags.DEFINE_enum("outer_lr_schedule", _D.outer_lr_schedule,
                  list(config_lib.OUTER_LR_SCHEDULES), "constant, cosine (MAML++: decays to 0 "
                  "at --steps) or linear (to 0 at --steps). With a decay, --steps cannot change "
                  "when resuming.")
flags.DEFINE_bool("per_step_lr", _D.per_step_lr, "MAML++ LSLR: a learned inner rate per "
                  "parameter tensor and inner step (maml, fomaml).")
flags.DEFINE_bool("per_step_bn", _D.per_step_bn, "MAML++ per-step batch norm: learned "
                  "normalization weights and biases for every inner step (the statistics are "
                  "always the batch's own; maml, fomaml, metasgd).")
flags.DEFINE_integer("first_order_steps", _D.first_order_steps, "MAML++ derivative-order "
                     "annealing: the first N meta-updates are first order (maml only; 0: off).")
flags.DEFINE_enum("step_weights", _D.step_weights, list(config_lib.STEP_WEIGHTS),
                  "Meta-loss over inner steps: final (MAML: the last step's query loss), "
                  "uniform, or annealed (MAML++ multi-step loss: uniform decaying to final "
                  "over --anneal_steps).")
flags.DEFINE_integer("anneal_steps", _D.anneal_steps, "Meta-updates of the annealed "
                     "multi-step loss.")
flags.DEFINE_integer("filters", _D.filters, "Conv-4 filters per block (papers: 64).")
flags.DEFINE_enum("pooling", _D.pooling, list(config_lib.POOLINGS), "Conv-4 down-sampling: "
                  "stride (stride-2 convolutions, MAML's Omniglot net) or max (2x2 max-pool).")
flags.DEFINE_integer("steps", _D.steps, "Total meta-updates of the run"
                     + _paper("steps") + ".")
flags.DEFINE_integer("seed", _D.seed, "Seed of initialization and episode stream.")
flags.DEFINE_integer("checkpoint_every", _D.checkpoint_every, "Meta-updates between "
                     "checkpoints.")
flags.DEFINE_integer("keep_checkpoints", _D.keep_checkpoints, "Newest checkpoints kept.")
flags.DEFINE_integer("eval_every", _D.eval_every, "Meta-updates between curve points "
                     "(held-out accuracy, curve.json and curve.png).")
flags.DEFINE_integer("eval_episodes", _D.eval_episodes, "Held-out episodes per curve point "
                     "(the same episodes every time; the final score: trainers.few_shot_eval "
                     "with 600).")
flags.DEFINE_integer("summary_every", _D.summary_every, "Meta-updates between TensorBoard "
                     "scalars.")
common.define_distribute_flags()
common.define_verbose_flag()
FLAGS = flags.FLAGS
FIELDS = [f.name for f in dataclasses.fields(lib.FewShotConfig)]


def resolve_settings() -> tuple[lib.FewShotConfig, str, str]:
    """The run's config: flags given, else the stored run's (when resuming), else the preset's.

    Returns ``(config, preset, how)`` for the banner.
    """
    from tfmeta.experiments import rundir
    given = {n: getattr(FLAGS, n) for n in FIELDS if FLAGS[n].present}
    given.setdefault("data_dir", common.default_data_dir())
    stored = rundir.stored_settings(FLAGS.workdir)
    if stored is not None and not FLAGS["preset"].present:
        preset = stored.get(rundir.PRESET_KEY) or "none"
        stored = {k: v for k, v in stored.items() if k != rundir.PRESET_KEY}
        base = dict(_D.to_json(), **stored)
        how = "as stored with the run" if preset != "none" else "the run's stored settings"
    else:
        base, preset = _D.to_json(), FLAGS.preset
        how = "given" if FLAGS["preset"].present else "default"
        algorithm = given.get("algorithm", base["algorithm"])
        if algorithm in lib.METRIC_ALGORITHMS:
            base.update((lib.METRIC_PAPER if preset == "paper" else lib.METRIC_CPU)[algorithm])
        if algorithm == "megan" and given.get("first_order"):
            base["outer_loss"] = "hybrid"   # the real query loss gives G no first-order signal
        if algorithm == "megan" and preset == "cpu":
            base.update(lib.MEGAN_CPU)
        elif preset == "paper" and algorithm not in lib.METRIC_ALGORITHMS:
            key = (given.get("ways", base["ways"]), given.get("shots", base["shots"]))
            if key not in lib.PAPER:
                known = ", ".join(f"--ways={w} --shots={s}" for w, s in sorted(lib.PAPER))
                raise ValueError(f"--preset=paper has no settings for --ways={key[0]} "
                                 f"--shots={key[1]}; it has {known}")
            base.update(lib.PAPER[key])
            if algorithm == "megan":
                base.update(lib.MEGAN_PAPER)
    values = {n: given[n] if n in given else base[n] for n in FIELDS}
    return lib.FewShotConfig(**values), preset, how


def banner(config: lib.FewShotConfig, preset: str, how: str, workdir: str) -> str:
    """What is about to run, where, and whether it is new or resumed."""
    from tfmeta.experiments import rundir
    latest = rundir.latest_checkpoint(workdir)
    state = "new run" if latest is None else (
        f"resuming at step {latest[1]} of {config.steps} from {os.path.basename(latest[0])}")
    data = config.folder if config.dataset == "folder" else (
        f"omniglot ({config.split} split)" if config.dataset == "omniglot" else config.dataset)
    if config.metric:
        extras = "".join(f" {k}={getattr(config, k)}" for k in ("fce", "fce_steps")
                         if config.fce)
        training = (f"training episodes: {config.training_ways}-way {config.shots}-shot "
                    f"{config.training_queries} queries, {config.meta_batch_size} per update; "
                    f"lr={config.outer_lr} ({config.outer_lr_schedule}) steps={config.steps} "
                    f"pooling={config.pooling} filters={config.filters}{extras}")
    else:
        megan = config_lib.MEGAN_FIELDS if config.megan else ()
        extras = "".join(f" {k}={getattr(config, k)}" for k in (
            "per_step_lr", "per_step_bn", "first_order_steps", "step_weights")
            if getattr(config, k) != getattr(_D, k)) + "".join(
            f" {k}={getattr(config, k)}" for k in megan)
        training = (f"steps={config.steps} meta_batch_size={config.meta_batch_size} "
                    f"inner_steps={config.inner_steps} (test: {config.eval_inner_steps}) "
                    f"inner_lr={config.inner_lr} outer_lr={config.outer_lr} "
                    f"({config.outer_lr_schedule}) queries={config.queries} "
                    f"filters={config.filters}{extras}")
    return (f"few_shot: {config.ways}-way {config.shots}-shot algorithm={config.algorithm} "
            f"{training}\n"
            f"data: {data}; curve: {config.eval_episodes} held-out episodes every "
            f"{config.eval_every} {'updates' if config.metric else 'meta-updates'}\n"
            f"preset: {preset} ({how})\n"
            f"workdir: {os.path.abspath(workdir)} ({state})")


def plot_curve(points: list[dict], config: lib.FewShotConfig, path: str) -> None:
    """``curve.png``: held-out accuracy (%) against meta-updates, 95% band, published MAML."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    steps = np.array([p["step"] for p in points], np.float64)
    accuracy = 100.0 * np.array([p["accuracy"] for p in points])
    ci95 = 100.0 * np.array([p["ci95"] for p in points])
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.fill_between(steps, accuracy - ci95, np.minimum(accuracy + ci95, 100.0), alpha=0.25,
                    color="C0", label="95% interval")
    adapted = "" if config.metric else (
        f", {points[-1].get('inner_steps', config.eval_inner_steps)} inner steps")
    ax.plot(steps, accuracy, marker="o", markersize=3, color="C0",
            label=f"held-out accuracy ({points[-1]['episodes']} episodes{adapted})")
    reference = published(config.algorithm, config.ways, config.shots)
    if config.dataset == "omniglot" and reference is not None:
        ax.axhline(reference[1], linestyle="--", color="gray",
                   label=f"published {reference[0]}: {reference[1]}%")
    name = "Omniglot" if config.dataset == "omniglot" else config.dataset
    ax.set_title(f"{name} {config.ways}-way {config.shots}-shot, {config.algorithm}")
    ax.set_xlabel("updates" if config.metric else "meta-updates")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    common.save_figure(fig, path)


class Progress:
    """Phase lines, the bar ("compiling the meta-update" until the first update) and estimate."""

    def __init__(self, config: lib.FewShotConfig, workdir: str, gpu: bool):
        self.config, self.workdir, self.gpu = config, workdir, gpu
        self.unit = "update" if config.metric else "meta-update"
        self.bar, self.times, self.started = None, [], time.perf_counter()
        self.accuracy, self.loss = None, None
        curve = lib.read_curve(workdir)
        if curve:
            self.accuracy = curve[-1]["accuracy"]

    def _postfix(self) -> None:
        shown = {}
        if self.loss is not None:
            shown["loss"] = f"{self.loss:.3f}"
        if self.accuracy is not None:
            shown["acc"] = f"{100 * self.accuracy:.1f}%"
        self.bar.set_postfix(shown, refresh=False)

    def event(self, name: str, step: int) -> None:
        if name == "data":
            line = f"data loaded in {time.perf_counter() - self.started:.0f} s"
            if not lib.read_curve(self.workdir) and step == 0:
                line += (f"; scoring {self.config.eval_episodes} held-out episodes for the "
                         "curve at step 0")
            common.say(line)
        elif name == "start":
            self.bar = common.progress_bar(self.config.steps, f"compiling the {self.unit}",
                                           initial=step)
            self._postfix()
            self.bar.refresh()
            self.times.append(time.perf_counter())
        elif name == "eval" and self.bar is not None:
            self.bar.set_description(self.config.algorithm, refresh=False)

    def curve(self, points: list[dict]) -> None:
        self.accuracy = points[-1]["accuracy"]
        plot_curve(points, self.config, os.path.join(self.workdir, "curve.png"))
        if self.bar is not None:
            self._postfix()
            self.bar.refresh()
        else:
            p = points[-1]
            common.say(f"step {p['step']}: held-out accuracy {100 * p['accuracy']:.2f} +- "
                       f"{100 * p['ci95']:.2f}%")

    def step(self, step: int, metrics: dict) -> None:
        self.times.append(time.perf_counter())
        self.bar.set_description(self.config.algorithm, refresh=False)
        self.bar.update(1)
        self.loss = metrics.get(f"meta_loss/{PLAYER}")   # metric learners: the episode loss
        self._postfix()
        if step % self.config.eval_every == 0 or step == self.config.steps:
            self.bar.set_description("scoring held-out episodes", refresh=False)
            self.bar.refresh()
        if len(self.times) <= 4:   # the first updates show at once, however fast
            self.bar.refresh()
        if len(self.times) == 4 and not self.gpu:
            per_update = (self.times[3] - self.times[1]) / 2
            left = self.config.steps - step
            if left > 0:
                common.say(f"no GPU visible: {per_update:.2f} s per {self.unit}; the {left} "
                           f"left take about {common.duration(per_update * left)} (plus the "
                           "curve points)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def finish(result, config: lib.FewShotConfig, workdir: str) -> None:
    """The last lines: the final curve point, where the files are, the next command."""
    if result.interrupted:
        common.say(f"interrupted at step {result.step}; saved; rerun the same command to resume")
        sys.exit(common.INTERRUPTED_EXIT)
    curve = lib.read_curve(workdir)
    score = "no curve point"
    if curve:
        p = curve[-1]
        adapted = "" if config.metric else (
            f", {p.get('inner_steps', config.eval_inner_steps)} inner steps")
        score = (f"held-out accuracy at step {p['step']}: {100 * p['accuracy']:.2f} +- "
                 f"{100 * p['ci95']:.2f}% ({p['episodes']} episodes{adapted})")
    where = os.path.abspath(workdir)
    print(f"done: step {result.step} of {config.steps} in {where}; {score}\n"
          f"curve: {os.path.join(where, 'curve.png')} ({lib.CURVE_FILE}); tensorboard "
          f"--logdir {os.path.join(where, 'tensorboard')}\n"
          f"next: python -m trainers.few_shot_eval --runs={workdir} --episodes=600 "
          f"--out={os.path.join(workdir, 'eval.json')}")


def main(argv):
    del argv
    from tfmeta.experiments.few_shot.run import check_workdir
    from tfmeta.training import Diverged
    common.apply_verbosity(FLAGS.verbose)
    progress = None
    try:
        strategy = common.make_strategy(FLAGS.distribute, FLAGS.cpu_devices)
        gpu = common.gpu_visible()
        config, preset, how = resolve_settings()
        check_workdir(config, FLAGS.workdir)
        common.say(banner(config, preset, how, FLAGS.workdir))
        if strategy is not None:
            common.say(common.distribute_line(strategy))
        progress = Progress(config, FLAGS.workdir, gpu)
        with common.StopOnSignal(on_signal=lambda: common.say(
                f"stopping after the running {progress.unit}; Ctrl-C again quits at once "
                "(the last checkpoint is kept)")) as stop:
            result = lib.run(config, FLAGS.workdir, progress.step, on_event=progress.event,
                             stop=stop.event, on_curve=progress.curve,
                             preset=None if preset == "none" else preset,
                             strategy=strategy)
        progress.close()
    except (ValueError, FileNotFoundError, Diverged) as e:
        if progress is not None:
            progress.close()
        sys.exit(f"error: {e}")
    finish(result, config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
