"""Seconds, memory and FLOP rate of one MAML-GAN meta-update (the reference workload).

The workload is the one ``../shared/peers/torch_mamlgan.py`` implements in PyTorch:
28x28x1 images, latent 100, the DCGAN of paper 000 (width 64), WGAN-GP (lambda 10),
N tasks per meta-batch, k inner steps, B real images and B latents per inner step
and per validation loss (fresh synthetic draws x ~ U[-1, 1] for each, as the peer
does), differentiable RMSprop inner steps (lr 1e-4, rho 0.9, eps 1e-7) on D and G
from the same pre-update parameters, uniform multi-step loss, outer RMSprop 1e-4.
``fomaml`` stops the inner gradients; ``reptile`` takes k Adam steps (lr 1e-4,
beta_1 0.5) per task and an outer SGD step of 0.1 on ``init - adapted``.

One configuration::

    python -m bench.meta_step --algorithm=maml --inner_steps=10 --tasks=4 \\
        --batch_size=32 --nojit_compile --repeats=5

prints one JSON line with ``algorithm, inner_steps, tasks, batch_size, jit_compile,
sec_per_meta_update`` (median of ``repeats`` timed updates after one warm-up),
``sec_min, sec_max, compile_sec`` (first call minus the median: tracing, graph
optimization and XLA compilation), ``remat`` (``--remat``: inner steps recomputed in the
meta-backward pass), ``peak_rss_mb`` (``ru_maxrss`` of the process, TensorFlow's own
~600 MB included), ``rss_before_first_update_mb`` (after import, models, one data draw),
``flops_per_meta_update`` and ``gflops_per_sec``; ``threads`` (``--threads``: TensorFlow's
intra- and inter-op pools; 0, the default, leaves TensorFlow's and reports the cores), ``warmup``
(1), ``loss`` and the optimizers' settings (``inner_lr, inner_rho, inner_eps, outer_lr, outer_rho,
outer_eps, first_order``; reptile: ``inner_lr, inner_beta_1, inner_beta_2, inner_eps, outer_lr``),
which ``bench.compare_peer`` checks against the peer's. ``--suite`` runs every configuration
of bench/README.md, each in a fresh process (so peak memory is its own; a configuration
that fails or runs past 10 minutes prints a line with ``error``).

``--distribute=mirrored`` (with ``--cpu_devices=N`` on a CPU) or ``--distribute=multi_worker
--local_workers=W`` times the same update with the meta-batch split across replicas and
adds ``replicas, sec_single_device, speedup, scaling_efficiency`` (bench/distributed.py).

FLOPs are counted, not estimated by hand: the per-task meta-gradient graph is
built once in a plain ``tf.Graph`` (no ``tf.function`` bodies to hide ops) and
``tf.compat.v1.profiler`` sums the registered ``flops`` statistics of its ops
(convolutions and their input/filter gradients, matmuls, elementwise ops), times N.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable

from absl import app, flags

from bench.profiling import graph_flops, profile_ops

SUITE = ([dict(algorithm=a, inner_steps=10) for a in ("maml", "fomaml", "reptile")]
         + [dict(algorithm="maml", inner_steps=k) for k in (1, 5, 20)]
         + [dict(algorithm="maml", inner_steps=k, remat=True) for k in (1, 5, 10, 20)]
         + [dict(algorithm="fomaml", inner_steps=10, remat=True)]
         + [dict(algorithm=a, inner_steps=k, jit_compile=True)
            for a, k in (("maml", 1), ("maml", 10), ("fomaml", 10), ("reptile", 10))])
SUITE_TIMEOUT_SEC = 600
LOSS = "wgan-gp"
INNER_RMSPROP = dict(learning_rate=1e-4, rho=0.9, epsilon=1e-7)
OUTER_RMSPROP = dict(learning_rate=1e-4, rho=0.9, epsilon=1e-7)
REPTILE_ADAM = dict(learning_rate=1e-4, beta_1=0.5, beta_2=0.999, epsilon=1e-7)
REPTILE_OUTER_LR = 0.1

flags.DEFINE_enum("algorithm", "maml", ["maml", "fomaml", "reptile"], "Meta-learning algorithm.")
flags.DEFINE_integer("inner_steps", 10, "k: inner steps per task.", lower_bound=1)
flags.DEFINE_integer("tasks", 4, "N: tasks per meta-update.", lower_bound=1)
flags.DEFINE_integer("batch_size", 32, "B: images and latents per inner step.", lower_bound=1)
flags.DEFINE_bool("jit_compile", False, "XLA-compile the meta-gradient.")
flags.DEFINE_bool("remat", False, "Recompute inner steps in the meta-backward pass "
                  "(MetaLearner(remat=True)): less memory, more compute (maml, fomaml).")
flags.DEFINE_bool("unroll", None, "Unroll the k inner steps into the graph (--unroll) or run "
                  "one symbolic loop (--nounroll); default: unrolled unless --remat.")
flags.DEFINE_integer("repeats", 5, "Timed meta-updates after one warm-up.", lower_bound=1)
flags.DEFINE_integer("threads", 0, "TensorFlow's intra- and inter-op threads (0: TensorFlow's "
                     "default, all cores).", lower_bound=0)
flags.DEFINE_integer("profile", 0, "Also profile one more meta-update and report this many op "
                     "types with the most self time (0: no profile).", lower_bound=0)
flags.DEFINE_bool("suite", False, "Run every configuration of bench/README.md, one process "
                  "each.")
flags.DEFINE_enum("distribute", "none", ["none", "mirrored", "multi_worker"], "Split the "
                  "meta-batch across replicas and report the scaling against one device "
                  "(bench/distributed.py): mirrored (local devices) or multi_worker "
                  "(TF_CONFIG's processes, or --local_workers).")
flags.DEFINE_integer("cpu_devices", 0, "Split the CPU into this many logical devices (0: as "
                     "TensorFlow sees it).", lower_bound=0)
flags.DEFINE_integer("local_workers", 0, "multi_worker: start this many worker processes on "
                     "localhost ports and time them (0: this process is one worker of the job "
                     "in TF_CONFIG).", lower_bound=0)
flags.register_multi_flags_validator(
    ["algorithm", "remat"], lambda v: not (v["remat"] and v["algorithm"] == "reptile"),
    "--remat applies to maml and fomaml, not reptile")
FLAGS = flags.FLAGS


def build(algorithm: str, inner_steps: int, jit_compile: bool, remat: bool = False,
          unroll: bool | None = None):
    """The reference learner and objective (see the module docstring)."""
    import keras

    from tfmeta import inner
    from tfmeta.algorithms import MetaLearner
    from tfmeta.gan import gan_objective
    from tfmeta.nets import build_discriminator, build_generator

    g, d = build_generator(seed=0), build_discriminator(seed=1)
    objective = gan_objective(g, d, loss=LOSS)
    variables = {"generator": g.trainable_variables, "discriminator": d.trainable_variables}
    if algorithm == "reptile":
        learner = MetaLearner(variables, objective, inner.adam(**REPTILE_ADAM),
                              outer=lambda: keras.optimizers.SGD(REPTILE_OUTER_LR),
                              algorithm="reptile",
                              inner_steps=inner_steps, jit_compile=jit_compile)
    else:
        learner = MetaLearner(variables, objective, inner.rmsprop(**INNER_RMSPROP),
                              outer=lambda: keras.optimizers.RMSprop(**OUTER_RMSPROP),
                              algorithm=algorithm, inner_steps=inner_steps, jit_compile=jit_compile,
                              remat=remat, unroll=unroll)
    return learner, objective


def optimizer_settings(algorithm: str) -> dict:
    """The optimizers of :func:`build`, named as ``bench.compare_peer`` checks them."""
    if algorithm == "reptile":
        return dict(inner_lr=REPTILE_ADAM["learning_rate"], inner_beta_1=REPTILE_ADAM["beta_1"],
                    inner_beta_2=REPTILE_ADAM["beta_2"], inner_eps=REPTILE_ADAM["epsilon"],
                    outer_lr=REPTILE_OUTER_LR)
    return dict(inner_lr=INNER_RMSPROP["learning_rate"], inner_rho=INNER_RMSPROP["rho"],
                inner_eps=INNER_RMSPROP["epsilon"], outer_lr=OUTER_RMSPROP["learning_rate"],
                outer_rho=OUTER_RMSPROP["rho"], outer_eps=OUTER_RMSPROP["epsilon"],
                first_order=algorithm == "fomaml")


def synthetic_tasks(step, tasks: int, inner_steps: int, batch_size: int):
    """Fresh x ~ U[-1, 1] for every inner and validation batch, as the peer draws."""
    import tensorflow as tf

    from tfmeta.types import Task
    shape = [tasks, max(inner_steps, 1), batch_size, 28, 28, 1]
    seed = tf.stack([tf.cast(step, tf.int32), 0])
    fold = tf.random.experimental.stateless_fold_in
    return Task(inner=tf.random.stateless_uniform(shape, fold(seed, 1), -1.0, 1.0),
                val=tf.random.stateless_uniform(shape, fold(seed, 2), -1.0, 1.0),
                seed=tf.random.stateless_uniform([tasks, 2], fold(seed, 3), None, None, tf.int32))


def count_flops(algorithm: str, inner_steps: int, batch_size: int) -> int:
    """FLOPs of one task's meta-gradient, counted by TF's profiler on a plain graph."""
    import tensorflow as tf

    def one_task():
        # unrolled: the profiler does not look inside a symbolic loop's body
        learner, _ = build(algorithm, inner_steps, False, unroll=True)
        task = synthetic_tasks(0, 1, inner_steps, batch_size)
        learner.task_gradients(tf.nest.map_structure(lambda t: t[0], task))
    return graph_flops(one_task)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_updates(update: Callable[[int], float], repeats: int) -> tuple[float, list]:
    """Seconds of ``update(0)`` (the warm-up: tracing, compiling) and of ``repeats`` more."""
    start = time.perf_counter()
    update(0)
    first = time.perf_counter() - start
    times = []
    for step in range(1, repeats + 1):
        start = time.perf_counter()
        update(step)
        times.append(time.perf_counter() - start)
    return first, times


def run_one(algorithm: str, inner_steps: int, tasks: int, batch_size: int, jit_compile: bool,
            repeats: int, remat: bool = False, unroll: bool | None = None,
            profile: int = 0, threads: int = 0) -> dict:
    import tensorflow as tf
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)

    learner, _ = build(algorithm, inner_steps, jit_compile, remat, unroll)
    sample = tf.function(lambda s: synthetic_tasks(s, tasks, inner_steps, batch_size))

    def update(step):
        metrics = learner.train_step(sample(tf.constant(step)))
        return float(metrics["meta_loss/generator"])  # waits for the result

    sample(tf.constant(0))
    rss_before = _rss_mb()
    first, times = time_updates(update, repeats)
    median = statistics.median(times)
    peak = _rss_mb()  # before counting FLOPs, which builds another graph
    flops = count_flops(algorithm, inner_steps, batch_size) * tasks
    extra = {"profile": profile_ops(update, repeats + 1, profile)} if profile else {}
    return extra | {"algorithm": algorithm, "inner_steps": inner_steps, "tasks": tasks,
            "batch_size": batch_size, "jit_compile": jit_compile, "remat": remat,
            "unroll": (not remat) if unroll is None else unroll,
            "sec_per_meta_update": median, "sec_min": min(times), "sec_max": max(times),
            "sec_all": times, "compile_sec": max(first - median, 0.0),
            "peak_rss_mb": peak, "rss_before_first_update_mb": rss_before,
            "flops_per_meta_update": flops, "gflops_per_sec": flops / median / 1e9,
            "repeats": repeats, "warmup": 1, "threads": threads or os.cpu_count(),
            "loss": LOSS, **optimizer_settings(algorithm), "tensorflow": tf.__version__,
            "loadavg_1min": os.getloadavg()[0]}


def run_suite() -> None:
    """Every configuration of ``SUITE``, each in a fresh process; one JSON line each."""
    for config in SUITE:
        values = dict(dict(tasks=FLAGS.tasks, batch_size=FLAGS.batch_size, jit_compile=False,
                           remat=False, repeats=FLAGS.repeats), **config)
        cmd = [sys.executable, "-m", "bench.meta_step"] + [
            f"--{k}={str(v).lower()}" for k, v in values.items()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SUITE_TIMEOUT_SEC)
        except subprocess.TimeoutExpired:
            print(json.dumps(dict(values, error=f"timed out after {SUITE_TIMEOUT_SEC} s")),
                  flush=True)
            continue
        if proc.returncode != 0:
            print(json.dumps(dict(values, error=proc.stderr.strip()[-500:])), flush=True)
            continue
        print(proc.stdout.strip().splitlines()[-1], flush=True)


def _flags_as_given() -> list[str]:
    """The flags set on this process's command line (``--name=value``), for its workers."""
    return [flag.serialize() for module_flags in FLAGS.flags_by_module_dict().values()
            for flag in module_flags if flag.present]


def run_distributed() -> dict:
    """One configuration under ``--distribute`` (see bench/distributed.py)."""
    from bench import distributed
    kind, worker = FLAGS.distribute, FLAGS.distribute == "multi_worker" and not FLAGS.local_workers
    from tfmeta import distribute
    strategy = distribute.make_strategy(kind, FLAGS.cpu_devices) \
        if kind == "mirrored" or worker else None
    import tensorflow as tf
    config = {"algorithm": FLAGS.algorithm, "inner_steps": FLAGS.inner_steps,
              "tasks": FLAGS.tasks, "batch_size": FLAGS.batch_size, "distribute": kind,
              "cpu_devices": FLAGS.cpu_devices, "threads": os.cpu_count(),
              "tensorflow": tf.__version__}
    sample = tf.function(lambda s: synthetic_tasks(s, FLAGS.tasks, FLAGS.inner_steps,
                                                   FLAGS.batch_size))

    def timed(learner) -> dict:
        first, times = time_updates(lambda step: float(learner.train_step(
            sample(tf.constant(step)))["meta_loss/generator"]), FLAGS.repeats)
        median = statistics.median(times)
        return {"sec": median, "sec_min": min(times), "sec_max": max(times),
                "compile_sec": max(first - median, 0.0)}

    single = None
    if not worker:   # the baseline: the whole global meta-batch on one device
        learner, _ = build(FLAGS.algorithm, FLAGS.inner_steps, FLAGS.jit_compile)
        single = timed(learner)["sec"]
    if kind == "multi_worker" and not worker:
        args = [a for a in _flags_as_given() if not a.startswith("--local_workers")]
        out = distributed.run_local_workers(args, FLAGS.local_workers, SUITE_TIMEOUT_SEC)
        if "error" in out:
            return dict(config, **out)
        return dict(out, local_workers=FLAGS.local_workers,
                    **distributed.scaling(single, out["sec_per_meta_update"], out["replicas"]))
    replicas = strategy.num_replicas_in_sync
    try:
        distribute.check_meta_batch_size(FLAGS.tasks, strategy, "--tasks={}")
    except ValueError as e:
        return dict(config, error=str(e))
    with strategy.scope():
        learner, _ = build(FLAGS.algorithm, FLAGS.inner_steps, FLAGS.jit_compile)
    times = timed(learner)
    out = dict(config, replicas=replicas, sec_per_meta_update=times.pop("sec"), **times,
               peak_rss_mb=_rss_mb(), loadavg_1min=os.getloadavg()[0])
    return out if single is None else dict(out, **distributed.scaling(single, out[
        "sec_per_meta_update"], replicas))


def main(argv) -> None:
    if FLAGS.distribute != "none":
        print(json.dumps(run_distributed()), flush=True)
        return
    del argv
    if FLAGS.suite:
        run_suite()
        return
    print(json.dumps(run_one(FLAGS.algorithm, FLAGS.inner_steps, FLAGS.tasks, FLAGS.batch_size,
                             FLAGS.jit_compile, FLAGS.repeats, FLAGS.remat, FLAGS.unroll,
                             FLAGS.profile, FLAGS.threads)), flush=True)


if __name__ == "__main__":
    app.run(main)
