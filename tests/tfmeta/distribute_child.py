"""Child process of distribute_test: one meta-update, single device vs MirroredStrategy.

Splitting the CPU into logical devices must happen before TensorFlow starts
its devices, so it cannot happen in the test process. Run as
``python -m tests.tfmeta.distribute_child DEVICES``; prints one JSON line per
algorithm (maml, reptile, Meta-SGD): the largest differences of meta-gradient,
metrics and updated weights between a learner on one device and one under a
MirroredStrategy of DEVICES logical CPUs, on the same global meta-batch, plus
the error lines of the two misuses (a meta-batch the replicas cannot split; models made outside
the strategy's scope); with 2 devices, then keras_distribute_child's lines (``"kind"``).
"""

import json
import os
import sys

import tensorflow as tf

tf.get_logger().setLevel("ERROR")   # a learner per algorithm retraces; that is the point
DEVICES = int(sys.argv[1]) if len(sys.argv) > 1 else 2
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()]
                                           * DEVICES)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tests import toys  # noqa: E402
from tfmeta import inner as inner_lib  # noqa: E402
from tfmeta.algorithms import MetaLearner  # noqa: E402

TASKS = 4


def make(algorithm: str, strategy):
    models, objective = toys.toy_gan(seed=3)
    variables = toys.variables(models)
    if algorithm == "metasgd":
        inner = {p: inner_lib.meta_sgd(inner_lib.meta_sgd_learning_rates(v, 0.05, name=p))
                 for p, v in variables.items()}
    elif algorithm == "reptile":
        inner = inner_lib.adam(0.05, beta_1=0.5)
    else:
        inner = inner_lib.rmsprop(0.01)
    learner = MetaLearner(variables, objective, inner,
                          outer=lambda: keras.optimizers.RMSprop(1e-2),
                          algorithm="maml" if algorithm == "metasgd" else algorithm,
                          inner_steps=1, strategy=strategy)
    return models, learner


def snapshot(learner):
    return {p: [np.array(v.numpy()) for v in learner.targets[p]] for p in learner.players}


def biggest(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
               for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)))


def error_line(fn) -> str:
    try:
        fn()
    except ValueError as e:
        return str(e)
    return ""


def main():
    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(DEVICES)])
    tasks = tf.nest.map_structure(lambda *t: tf.stack(t),
                                  *[toys.gan_task(2, seed=s) for s in range(1, TASKS + 1)])
    # Not fomaml: it is maml with the inner gradients stopped, through the same split and
    # all-reduce; tests/trainers/distribute_test.py runs it on 2 devices and 2 workers.
    for algorithm in ("maml", "reptile", "metasgd"):
        _, single = make(algorithm, None)
        with strategy.scope():
            _, mirrored = make(algorithm, strategy)
        start = biggest(snapshot(single), snapshot(mirrored))
        grads_1, metrics_1 = single._compute(tasks)
        grads_r, metrics_r = mirrored._compute(tasks)
        out_1, out_r = single.train_step(tasks), mirrored.train_step(tasks)
        print(json.dumps({
            "algorithm": algorithm, "replicas": int(strategy.num_replicas_in_sync),
            "start": start, "grads": biggest(grads_1, grads_r),
            "grad_scale": max(float(np.max(np.abs(g))) for g in tf.nest.flatten(grads_1)),
            "metrics": biggest([metrics_1[k] for k in sorted(metrics_1)],
                               [metrics_r[k] for k in sorted(metrics_1)]),
            "metric_keys": sorted(metrics_r) == sorted(metrics_1),
            "train_metrics": biggest([out_1[k] for k in sorted(out_1)],
                                     [out_r[k] for k in sorted(out_1)]),
            "weights": biggest(snapshot(single), snapshot(mirrored)),
            "moved": biggest(snapshot(single), snapshot(make(algorithm, None)[1])),
            "steps": [int(single.step.numpy()), int(mirrored.step.numpy())],
            "replica_values_equal": all(
                biggest(*[c.numpy() for c in v.values]) == 0.0
                for p in mirrored.players for v in
                [getattr(t, "value", t) for t in mirrored.targets[p]])}), flush=True)
    with strategy.scope():
        _, learner = make("fomaml", strategy)
    three = tf.nest.map_structure(lambda t: t[:3], tasks)
    outside = lambda: make("fomaml", strategy)  # noqa: E731  (models made outside the scope)
    print(json.dumps({"indivisible": error_line(lambda: learner.train_step(three)),
                      "outside_scope": error_line(outside)}), flush=True)
    if DEVICES == 2:   # tfmeta.keras's fit on the same two devices, in the same process
        from tests.tfmeta import keras_distribute_child
        keras_distribute_child.main(strategy)


if __name__ == "__main__":
    main()
    os._exit(0)   # all is printed; skip seconds of TensorFlow's teardown at interpreter exit
