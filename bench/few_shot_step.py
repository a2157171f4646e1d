"""Seconds and peak memory of one few-shot MAML meta-update on Conv-4 (the peer's workload).

The computation of ``../shared/peers/torch_maml_omniglot.py``, in tfmeta: T tasks per
meta-update, each N-way with K support and Q query images per class, x ~ U[-1, 1]
``[T, N*K, 28, 28, 1]`` (and ``[T, N*Q, ...]``) drawn fresh for every meta-update inside the
timed region, labels ``0..N-1`` grouped by class; :func:`tfmeta.nets.build_conv4` (stride-2
Conv-4, batch-statistics BatchNorm, spatial mean, linear head); softmax cross-entropy
(:func:`tfmeta.classify.classification_objective`); ``steps`` plain SGD inner steps of
``inner_lr`` from the shared initialization, the query loss after the last step as the
task's meta-loss (``step_weights="final"``), the mean over tasks, outer Adam(``outer_lr``).
``maml`` is second order, ``fomaml`` stops the inner gradients. ``megan`` is MeGAN's
second-order meta-update (paper 001, :mod:`tfmeta.megan`): an N+1-way Conv-4 and an
image-conditioned generator (base width 32, noise 32) adapt together, the generated images
entering the classifier's loss from inner step ``min(2, inner_steps - 1)``; the meta-loss is the
real query loss (``outer_loss="real"``), through both players' initializations.
``protonet`` is a Prototypical-network update (Snell et al. 2017; no inner loop,
``--inner_steps=0``): the max-pooled Conv-4 embedding (Keras batch norm) of every image of the
T episodes in one batch, prototypes as the support's class means, minus squared distances as
logits, cross-entropy over the queries, Adam(``outer_lr``); its peer is
``bench/peers/torch_protonet.py``.
``--adapt=head`` is ANIL (Raghu et al. 2020; maml and fomaml): the inner steps adapt only the
head (``adapt_only``), the inner gradient is of the head alone, and the body is meta-learned
through the adapted head's query loss; time it against ``--adapt=all`` (full MAML), each in its
own process so that ``peak_rss_mb`` is its own.
``--tasks_mode=loop`` runs the tasks one after another in a ``tf.while_loop``; ``vectorized``
as one batched computation (both give the exact meta-gradient, tested in
tests/tfmeta/algorithms/).

One configuration (the issue's reference)::

    python -m bench.few_shot_step --algorithm=maml --ways=5 --shots=1 --queries=15 \\
        --tasks=32 --inner_steps=1 --tasks_mode=loop --warmup=2 --repeats=10

prints progress to stderr and one JSON line to stdout with the peer's keys where they mean the
same: ``side`` ("tfmeta"), ``framework``, ``algorithm, ways, shots, queries, tasks,
inner_steps, inner_lr, outer_lr, tasks_mode, threads``, ``sec_per_meta_update`` (median of
``--repeats`` timed updates after ``--warmup`` untimed ones), ``min_sec``, ``max_sec``,
``sec_all``, ``peak_rss_mb`` (``ru_maxrss``, TensorFlow's own ~600 MB included),
``final_loss``, ``machine``; and ``warmup_sec`` (wall time of the warm-up updates: tracing and
graph optimization), ``first_sec``, ``rss_before_first_update_mb``, ``parallel_tasks``,
``warmup``, ``repeats``, ``tensorflow``, ``loadavg_1min``, ``adapt``. ``--flops`` adds
``flops_per_meta_update`` (one task's meta-gradient built unrolled in a plain graph and counted
by TF's profiler, :func:`bench.profiling.graph_flops`, times T; the outer Adam step is not
counted) and ``gflops_per_sec``; ``--profile=N`` adds ``profile``, the N op types with the most
self time in one more meta-update (:func:`bench.profiling.profile_ops`).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time

from absl import app, flags

from bench.profiling import graph_flops, profile_ops

flags.DEFINE_enum("algorithm", "maml", ["maml", "fomaml", "megan", "protonet"], "maml (second "
                  "order), fomaml, megan (second order, with its generator), or protonet (no "
                  "inner loop: --inner_steps=0).")
flags.DEFINE_enum("adapt", "all", ["all", "head"], "What the inner steps adapt: all (MAML) or "
                  "head (ANIL: Conv-4's last Dense layer; maml and fomaml).")
flags.DEFINE_integer("ways", 5, "N: classes per task.", lower_bound=2)
flags.DEFINE_integer("shots", 1, "K: support images per class.", lower_bound=1)
flags.DEFINE_integer("queries", 15, "Q: query images per class.", lower_bound=1)
flags.DEFINE_integer("tasks", 32, "T: tasks per meta-update.", lower_bound=1)
flags.DEFINE_integer("inner_steps", 1, "SGD steps on the support set per task (protonet: 0).",
                     lower_bound=0)
flags.DEFINE_float("inner_lr", 0.4, "Learning rate of the inner SGD steps (> 0).")
flags.DEFINE_float("outer_lr", 1e-3, "Learning rate of the outer Adam (> 0).")
flags.DEFINE_enum("tasks_mode", "loop", ["loop", "vectorized"], "loop: one task after another "
                  "(tf.while_loop); vectorized: all tasks as one batched computation.")
flags.DEFINE_integer("parallel_tasks", 1, "loop: tasks the runtime may compute at once.",
                     lower_bound=1)
flags.DEFINE_integer("threads", 0, "TensorFlow's intra- and inter-op threads (0: TensorFlow's "
                     "default, all cores).", lower_bound=0)
flags.DEFINE_integer("warmup", 2, "Untimed meta-updates first (the first one traces).",
                     lower_bound=0)
flags.DEFINE_integer("repeats", 10, "Timed meta-updates.", lower_bound=1)
flags.DEFINE_bool("flops", False, "Also count the meta-update's FLOPs (TF's profiler on one "
                  "task's unrolled graph, times T) and report the rate.")
flags.DEFINE_integer("profile", 0, "Also profile one more meta-update and report this many op "
                     "types with the most self time (0: no profile).", lower_bound=0)
flags.register_validator("inner_lr", lambda v: v > 0, "--inner_lr: expected a number > 0")
flags.register_validator("outer_lr", lambda v: v > 0, "--outer_lr: expected a number > 0")
flags.register_multi_flags_validator(
    ["inner_steps", "algorithm"],
    lambda f: (f["inner_steps"] == 0) == (f["algorithm"] == "protonet"),
    "--inner_steps: 0 for --algorithm=protonet (no inner loop), at least 1 for the others")
flags.register_multi_flags_validator(
    ["adapt", "algorithm"], lambda f: f["adapt"] == "all" or f["algorithm"] in ("maml", "fomaml"),
    "--adapt=head (ANIL) applies to --algorithm=maml or fomaml")
FLAGS = flags.FLAGS


def build(algorithm: str, ways: int, inner_steps: int, inner_lr: float, outer_lr: float,
          tasks_mode: str, parallel_tasks: int = 1, adapt: str = "all"):
    """The learner of the module docstring: Conv-4, cross-entropy, SGD inside, Adam outside."""
    import keras

    from tfmeta import inner
    from tfmeta.algorithms import MetaLearner
    from tfmeta.classify import classification_objective
    from tfmeta.functional import head_indices
    from tfmeta.nets import build_conv4

    if adapt not in ("all", "head"):
        raise ValueError(f"adapt={adapt!r}: expected 'all' or 'head'")
    if adapt == "head" and algorithm not in ("maml", "fomaml"):
        raise ValueError(f"adapt='head' (ANIL) applies to maml and fomaml, not {algorithm}")

    if algorithm == "protonet":   # Snell et al.: max-pooled Conv-4, squared distances, Adam
        from tfmeta.metric import MetricLearner, MetricNets
        from tfmeta.nets.conv4 import build_conv4_embedding
        return MetricLearner(MetricNets("protonet", build_conv4_embedding()), ways,
                             keras.optimizers.Adam(outer_lr))
    if algorithm == "megan":
        from tfmeta.megan import megan_objective
        from tfmeta.nets.megan import build_conditional_generator
        model, generator = build_conv4(ways + 1), build_conditional_generator(ways=ways)
        objective = megan_objective(model, generator, ways=ways,
                                    fakes_from=min(2, inner_steps - 1))
        return MetaLearner({"model": model.trainable_variables,
                            "generator": generator.trainable_variables}, objective,
                           inner.sgd(inner_lr), lambda: keras.optimizers.Adam(outer_lr),
                           algorithm="maml", inner_steps=inner_steps, step_weights="final",
                           tasks_mode=tasks_mode, parallel_tasks=parallel_tasks)
    model = build_conv4(ways)
    return MetaLearner({"model": model.trainable_variables}, classification_objective(model),
                       inner.sgd(inner_lr), lambda: keras.optimizers.Adam(outer_lr),
                       algorithm=algorithm, inner_steps=inner_steps, step_weights="final",
                       tasks_mode=tasks_mode, parallel_tasks=parallel_tasks,
                       adapt_only={"model": head_indices(model)} if adapt == "head" else None)


def synthetic_tasks(step, tasks: int, ways: int, shots: int, queries: int,
                    megan: bool = False):
    """Fresh x ~ U[-1, 1] support and query images; labels 0..N-1 grouped by class.

    ``megan``: the validation batch carries the support set after the queries."""
    import tensorflow as tf

    from tfmeta.types import Reused, Task
    seed = tf.stack([tf.cast(step, tf.int32), 0])
    fold = tf.random.experimental.stateless_fold_in

    def images(per_class, salt):
        return tf.random.stateless_uniform([tasks, ways * per_class, 28, 28, 1],
                                           fold(seed, salt), -1.0, 1.0)

    def labels(per_class):
        return tf.tile(tf.repeat(tf.range(ways), per_class)[None], [tasks, 1])

    support = (images(shots, 1), labels(shots))
    query = (images(queries, 2), labels(queries))
    return Task(inner=Reused(support), val=Reused(query + support if megan else query),
                seed=tf.zeros([tasks, 2], tf.int32))


def count_flops(algorithm: str, ways: int, shots: int, queries: int, inner_steps: int,
                tasks: int, adapt: str = "all") -> int:
    """FLOPs of the meta-gradient of ``tasks`` tasks (the learner of :func:`build`), by TF's
    profiler: one task's times ``tasks`` (protonet: the batch of episodes, its one pass)."""
    import tensorflow as tf

    def gradients():
        learner = build(algorithm, ways, inner_steps, 0.4, 1e-3, "loop", adapt=adapt)
        if algorithm == "protonet":
            with tf.GradientTape() as tape:
                loss, _ = learner.loss(synthetic_tasks(0, tasks, ways, shots, queries))
            tape.gradient(loss, learner.trainable)
            return
        task = synthetic_tasks(0, 1, ways, shots, queries, megan=algorithm == "megan")
        learner.task_gradients(tf.nest.map_structure(lambda t: t[0], task))
    return graph_flops(gradients) * (1 if algorithm == "protonet" else tasks)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _progress(message: str) -> None:
    print(f"few_shot_step: {message}", file=sys.stderr, flush=True)


def run(algorithm: str, ways: int, shots: int, queries: int, tasks: int, inner_steps: int,
        inner_lr: float, outer_lr: float, tasks_mode: str, parallel_tasks: int, threads: int,
        warmup: int, repeats: int, adapt: str = "all", flops: bool = False,
        profile: int = 0) -> dict:
    """Times ``warmup + repeats`` meta-updates; returns the JSON record (module docstring)."""
    import tensorflow as tf
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    learner = build(algorithm, ways, inner_steps, inner_lr, outer_lr, tasks_mode, parallel_tasks,
                    adapt)
    sample = tf.function(lambda s: synthetic_tasks(s, tasks, ways, shots, queries,
                                                   megan=algorithm == "megan"))

    def update(step: int) -> float:
        metrics = learner.train_step(sample(tf.constant(step)))
        return float(metrics["meta_loss/model"])  # waits for the result

    rss_before = _rss_mb()
    warmup_times, times, loss = [], [], float("nan")
    for step in range(warmup + repeats):
        start = time.perf_counter()
        loss = update(step)
        seconds = time.perf_counter() - start
        (warmup_times if step < warmup else times).append(seconds)
        _progress(f"{'warm-up' if step < warmup else 'timed'} update {step + 1}/"
                  f"{warmup + repeats}: {seconds:.3f} s, meta-loss {loss:.4f}, "
                  f"peak RSS {_rss_mb():.0f} MB")
    peak = _rss_mb()  # before counting FLOPs or profiling, which add graphs and buffers
    median = statistics.median(times)
    extra = {"profile": profile_ops(update, warmup + repeats, profile)} if profile else {}
    if flops:
        total = count_flops(algorithm, ways, shots, queries, inner_steps, tasks, adapt)
        extra.update(flops_per_meta_update=total, gflops_per_sec=total / median / 1e9)
    return extra | {"side": "tfmeta", "framework": f"tensorflow {tf.__version__}",
            "algorithm": algorithm, "ways": ways, "shots": shots, "queries": queries,
            "tasks": tasks, "inner_steps": inner_steps, "inner_lr": inner_lr,
            "outer_lr": outer_lr, "tasks_mode": tasks_mode, "parallel_tasks": parallel_tasks,
            "threads": threads or os.cpu_count(), "warmup": warmup, "repeats": repeats,
            "sec_per_meta_update": median, "min_sec": min(times),
            "max_sec": max(times), "sec_all": times, "warmup_sec": sum(warmup_times),
            "first_sec": (warmup_times or times)[0], "peak_rss_mb": peak,
            "rss_before_first_update_mb": rss_before, "final_loss": loss,
            "machine": platform.processor() or platform.machine(),
            "tensorflow": tf.__version__, "loadavg_1min": os.getloadavg()[0], "adapt": adapt}


def main(argv) -> None:
    del argv
    record = run(FLAGS.algorithm, FLAGS.ways, FLAGS.shots, FLAGS.queries, FLAGS.tasks,
                 FLAGS.inner_steps, FLAGS.inner_lr, FLAGS.outer_lr, FLAGS.tasks_mode,
                 FLAGS.parallel_tasks, FLAGS.threads, FLAGS.warmup, FLAGS.repeats, FLAGS.adapt,
                 FLAGS.flops, FLAGS.profile)
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    app.run(main)
