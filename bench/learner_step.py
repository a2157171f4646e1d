"""Updates per second of a few-shot learner as ``trainers.few_shot`` trains it; the data's share.

``bench.few_shot_step`` times the peer's synthetic MAML workload; this times what a user's
training run does on real data: the learner ``--algorithm`` with the settings
``trainers.few_shot`` would resolve (the preset ``--preset``, default ``cpu``, then
``--ways``, ``--shots`` and ``--meta_batch_size`` where given), Omniglot meta-train episodes
from ``EpisodeSampler`` (``tf.function``, as ``tfmeta.training.meta_train`` calls it), and the
learner's ``train_step``. Three things are timed, each as the median of ``--repeats`` calls
after ``--warmup`` untimed ones (fresh steps each time):

* ``sample_sec``: one meta-batch drawn (the training sampler alone);
* ``update_sec``: one ``train_step`` on a meta-batch drawn before the clock starts;
* ``step_sec``: both, one after the other, as ``meta_train`` runs them (it does not overlap
  sampling with the update); ``updates_per_sec`` is its inverse and ``sample_share``
  ``sample_sec / (sample_sec + update_sec)``: near 1, the data is the bottleneck.

One process per learner (peak memory is its own)::

    python -m bench.learner_step --algorithm=protonet   # or maml, fomaml, matching, ...

prints progress to stderr and one JSON line: ``algorithm, preset, ways, shots,
training_ways, training_queries, meta_batch_size, inner_steps, threads, sample_sec,
update_sec, step_sec`` (each with ``_min`` / ``_max``), ``updates_per_sec, sample_share,
images_per_meta_batch, warmup_sec, peak_rss_mb, rss_before_first_update_mb, tensorflow,
loadavg_1min``. The data is read from ``--data_dir`` (default: ``TFDS_DATA_DIR``, else
``../shared/tensorflow_datasets`` next to the project), never downloaded.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time

from absl import app, flags

from tfmeta.experiments.few_shot import learners
from trainers import common

flags.DEFINE_enum("algorithm", "protonet", sorted(learners.names()), "The learner to time.")
flags.DEFINE_enum("preset", "cpu", ["cpu", "paper"], "The settings trainers.few_shot resolves "
                  "for this learner (its --preset).")
flags.DEFINE_integer("ways", 5, "N: classes per evaluation episode (training ways follow the "
                     "preset, e.g. ProtoNet's 60).", lower_bound=2)
flags.DEFINE_integer("shots", 1, "K: support images per class.", lower_bound=1)
flags.DEFINE_integer("meta_batch_size", None, "Episodes per update (default: the preset's).",
                     lower_bound=1)
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: TFDS_DATA_DIR, else "
                    "../shared/tensorflow_datasets next to the project).")
flags.DEFINE_integer("warmup", 2, "Untimed calls of each kind first (the first traces).",
                     lower_bound=1)
flags.DEFINE_integer("repeats", 10, "Timed calls of each kind.", lower_bound=1)
flags.DEFINE_integer("threads", 0, "TensorFlow's intra- and inter-op threads (0: TensorFlow's "
                     "default, all cores).", lower_bound=0)
FLAGS = flags.FLAGS


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(call, steps) -> list[float]:
    times = []
    for step in steps:
        start = time.perf_counter()
        call(step)
        times.append(time.perf_counter() - start)
    return times


def _stats(name: str, times: list[float]) -> dict:
    return {name: statistics.median(times), f"{name}_min": min(times),
            f"{name}_max": max(times)}


def run(algorithm: str, preset: str, given: dict, data_dir: str | None, warmup: int,
        repeats: int, threads: int = 0) -> dict:
    """Times sampling, the update and both (module docstring); returns the JSON record."""
    import tensorflow as tf

    from tfmeta.experiments import settings
    from tfmeta.experiments.few_shot.build import build, load_data, training_sampler
    from tfmeta.experiments.few_shot.config import FewShotConfig
    from tfmeta.experiments.few_shot.presets import PRESETS
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    given = dict(given, algorithm=algorithm, dataset="omniglot", download=False,
                 data_dir=data_dir or common.default_data_dir())
    config = settings.resolve(FewShotConfig, PRESETS, given=given, preset=preset).config
    splits = load_data(config)
    sample = tf.function(training_sampler(config, splits.train))
    setup = build(config, splits.train.image_shape, classes=splits.train.num_classes)

    def draw(step: int):
        batch = sample(tf.constant(step, tf.int64))
        tf.nest.flatten(batch)[0].numpy()  # waits for the result
        return batch

    def update(batch) -> None:
        metrics = setup.learner.train_step(batch)
        float(tf.nest.flatten(metrics)[0])  # waits for the result

    rss_before = _rss_mb()
    start = time.perf_counter()
    for step in range(warmup):
        update(draw(step))
    warmup_sec = time.perf_counter() - start
    print(f"learner_step: {algorithm}: {warmup} warm-up updates in {warmup_sec:.1f} s",
          file=sys.stderr, flush=True)
    first, timed = warmup, range(warmup, warmup + repeats)
    sample_times = _timed(draw, timed)
    batches = [draw(step) for step in timed]
    update_times = _timed(lambda i: update(batches[i - first]), timed)
    step_times = _timed(lambda step: update(draw(step)), range(first + repeats,
                                                              first + 2 * repeats))
    out = {"algorithm": algorithm, "preset": preset, "ways": config.ways, "shots": config.shots,
           "training_ways": config.training_ways, "training_queries": config.training_queries,
           "meta_batch_size": config.meta_batch_size, "inner_steps": config.inner_steps,
           "threads": threads or os.cpu_count(), "warmup": warmup, "repeats": repeats,
           **_stats("sample_sec", sample_times), **_stats("update_sec", update_times),
           **_stats("step_sec", step_times)}
    images = sum(int(tf.size(t)) for t in tf.nest.flatten(batches[0]) if t.dtype.is_floating)
    out.update(updates_per_sec=1.0 / out["step_sec"],
               sample_share=out["sample_sec"] / (out["sample_sec"] + out["update_sec"]),
               images_per_meta_batch=images // int(tf.reduce_prod(splits.train.image_shape)),
               warmup_sec=warmup_sec, peak_rss_mb=_rss_mb(), rss_before_first_update_mb=rss_before,
               tensorflow=tf.__version__, loadavg_1min=os.getloadavg()[0])
    return out


def main(argv) -> None:
    del argv
    given = {"ways": FLAGS.ways, "shots": FLAGS.shots}
    if FLAGS.meta_batch_size is not None:
        given["meta_batch_size"] = FLAGS.meta_batch_size
    try:
        record = run(FLAGS.algorithm, FLAGS.preset, given, FLAGS.data_dir, FLAGS.warmup,
                     FLAGS.repeats, FLAGS.threads)
    except (ValueError, FileNotFoundError) as e:  # a setting, or data not in --data_dir
        sys.exit(f"error: {common.to_flags(str(e))}")
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    app.run(main)
