"""Meta-batches across devices and machines with ``tf.distribute``.

A meta-batch is embarrassingly parallel: each task's meta-gradient is
independent until the average. Under a strategy with R replicas, replica r
takes tasks ``[r * N/R, (r + 1) * N/R)`` of the step's global meta-batch of N
tasks (the same tasks, in the same order, as a single-device run: the task
stream stays a pure function of (seed, step), and each replica's share a pure
function of (seed, step, replica)), computes their mean meta-gradient, and one
all-reduce makes the global mean, which every replica applies.

* :func:`make_strategy` -- ``"none"``, ``"mirrored"`` (the local devices) or
  ``"multi_worker"`` (processes and machines listed in ``TF_CONFIG``);
* :func:`replica_gradients` -- the all-reduced mean gradients and metrics of a
  meta-batch, computed by a per-replica function;
* :func:`is_chief`, :func:`worker_checkpoint_dir` -- who writes summaries and
  grids (the chief) and where each worker writes its checkpoints.

Example:
    >>> strategy = make_strategy("mirrored")
    >>> with strategy.scope():          # models, outer optimizers, meta-variables
    ...     setup = build(config, image_shape)
    >>> setup.learner.train_step(sampler(step))   # the learner splits the meta-batch
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import tensorflow as tf

KINDS = ("none", "mirrored", "multi_worker")


def make_strategy(kind: str, cpu_devices: int = 0) -> tf.distribute.Strategy | None:
    """The strategy of ``kind``; None for ``"none"``.

    ``cpu_devices`` > 0 first splits the CPU into that many logical devices
    (to run ``"mirrored"`` without GPUs). Both must come before TensorFlow's
    first op in the process (TensorFlow's rule for devices and for
    ``"multi_worker"``, which reads the cluster from ``TF_CONFIG``).

    Raises:
      ValueError: an unknown kind, ``"multi_worker"`` without ``TF_CONFIG``,
        or devices already started.
    """
    if kind not in KINDS:
        raise ValueError(f"distribute={kind!r}; expected one of {', '.join(KINDS)}")
    if cpu_devices:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        except RuntimeError as e:
            raise ValueError(f"cpu_devices={cpu_devices}: {e}") from None
    if kind == "none":
        return None
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if not os.environ.get("TF_CONFIG"):
        raise ValueError("distribute='multi_worker' needs TF_CONFIG (the cluster and this "
                         "process's task, e.g. {\"cluster\": {\"worker\": [\"host1:12345\", "
                         "\"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}); "
                         "see docs/distributed.md")
    try:
        json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not JSON ({e}): {os.environ['TF_CONFIG'][:200]!r}") \
            from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def replicas(strategy: tf.distribute.Strategy | None) -> int:
    """Replicas in sync (1 without a strategy)."""
    return 1 if strategy is None else int(strategy.num_replicas_in_sync)


def _task_type_and_id(strategy) -> tuple[str | None, int | None]:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return None, None
    return resolver.task_type, resolver.task_id


def is_single_process(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether all replicas live in this process (no strategy, or one machine's)."""
    return _task_type_and_id(strategy)[0] is None


def is_chief(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether this process writes summaries, grids and the run's checkpoints.

    True without a strategy, for a one-machine strategy, and for the ``chief``
    task (or ``worker`` 0 when the cluster has no chief) of a multi-worker one.
    """
    task_type, task_id = _task_type_and_id(strategy)
    if task_type is None:
        return True
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and
                                    "chief" not in strategy.cluster_resolver.cluster_spec()
                                    .as_dict())


def worker_checkpoint_dir(workdir: str, strategy: tf.distribute.Strategy | None) -> str:
    """Where this process writes checkpoints: ``workdir/checkpoints`` for the chief.

    Every worker of a multi-worker run must save (saving may run collective
    ops); the others write to ``workdir/.workers/<type>_<id>``, which they
    delete when the run ends. All of them restore from ``workdir/checkpoints``,
    so the run directory must be shared between machines (NFS, GCS...).
    """
    if is_chief(strategy):
        return os.path.join(workdir, "checkpoints")
    task_type, task_id = _task_type_and_id(strategy)
    return os.path.join(workdir, ".workers", f"{task_type}_{task_id}")


def check_meta_batch_size(size: int | None, strategy: tf.distribute.Strategy | None,
                          what: str = "a meta-batch of {} tasks") -> None:
    """Raises ValueError unless the strategy's replicas split ``size`` tasks evenly."""
    count = replicas(strategy)
    if size is None or size % count:
        raise ValueError(f"{what.format(size)} cannot be split evenly across {count} "
                         f"replicas; use a multiple of {count}")


def check_split(tasks: Any, strategy: tf.distribute.Strategy) -> int:
    """The meta-batch size N of ``tasks``; raises ValueError unless the replicas split it."""
    n = tf.nest.flatten(tasks)[0].shape[0]
    check_meta_batch_size(n, strategy)
    return n


def replica_gradients(strategy: tf.distribute.Strategy, compute: Callable[[Any], tuple],
                      tasks: Any, norms: Callable[[dict], dict]) -> tuple[dict, dict]:
    """Mean gradients and metrics of a global meta-batch, all-reduced across replicas.

    Call it inside a ``tf.function``, in cross-replica context.

    Args:
      strategy: the learner's strategy.
      compute: ``tasks -> (grads, metrics)``, means over a stacked meta-batch,
        run once per replica on its share.
      tasks: the global meta-batch, a stacked ``Task`` whose leading axis N is
        static and divisible by the replicas.
      norms: ``grads -> {name: scalar}``, metrics recomputed from the global
        gradients (gradient norms are not means of the replicas' norms).

    Returns:
      ``(grads, metrics)``, this process's copy (identical on every replica).

    Raises:
      ValueError: N unknown or not divisible by the replicas.
    """
    count = strategy.num_replicas_in_sync
    share = check_split(tasks, strategy) // count

    def one_replica(tasks):
        context = tf.distribute.get_replica_context()
        index = context.replica_id_in_sync_group * share + tf.range(share)
        mine = tf.nest.map_structure(lambda t: tf.gather(t, index), tasks)
        grads, metrics = compute(mine)
        grads, metrics = context.all_reduce(
            tf.distribute.ReduceOp.SUM,
            tf.nest.map_structure(lambda t: t / tf.cast(count, t.dtype), (grads, metrics)))
        return grads, dict(metrics, **norms(grads))

    out = strategy.run(one_replica, args=(tasks,))
    return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], out)


def keras_replica_share(grads: Any, metrics: Any) -> tuple[Any, Any]:
    """In a Keras ``train_step``: this replica's mean gradients, ready for the optimizer.

    Under a strategy, Keras runs ``train_step`` once per replica on its share of
    the global batch, and its optimizer *sums* the replicas' gradients. So each
    replica's mean gradient is divided by the number of replicas (their sum is
    the global mean when the shares are equal) and the metrics are all-reduced
    to their global means. Without a strategy (one replica) nothing changes.
    """
    context = tf.distribute.get_replica_context()
    count = 1 if context is None else context.num_replicas_in_sync
    if count == 1:
        return grads, metrics
    grads = tf.nest.map_structure(lambda g: g / tf.cast(count, g.dtype), grads)
    return grads, context.all_reduce(tf.distribute.ReduceOp.MEAN, metrics)
