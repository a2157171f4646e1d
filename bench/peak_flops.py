"""The FLOP rate this machine reaches on dense float32 work, for the FLOP-bound estimate.

Times large float32 matrix products and the reference workload's biggest convolution
(the discriminator's 64 -> 128 channel, 4x4 stride-2 layer on a batch of 96 images) in
TensorFlow on the default device and prints one JSON line: the best GFLOP/s of each and
their maximum, ``peak_gflops_per_sec``. A meta-update's FLOP count divided by that peak is
the time it would take if every operation ran as fast as the best dense kernel
(bench/README.md). Example::

    python -m bench.peak_flops
"""

from __future__ import annotations

import json
import os
import time

from absl import app, flags

flags.DEFINE_integer("repeats", 10, "Timed calls of each kernel; the best counts.", lower_bound=1)
flags.DEFINE_integer("size", 2048, "n of the n x n float32 matmul.", lower_bound=1)
FLAGS = flags.FLAGS


def _best_rate(fn, flops: float, repeats: int) -> float:
    fn()  # warm-up: kernel selection, allocation
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def main(argv) -> None:
    del argv
    import tensorflow as tf

    n = FLAGS.size
    a = tf.random.stateless_normal([n, n], [0, 1])
    b = tf.random.stateless_normal([n, n], [0, 2])
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    x = tf.random.stateless_normal([96, 14, 14, 64], [0, 3])
    w = tf.random.stateless_normal([4, 4, 64, 128], [0, 4])
    conv = tf.function(lambda: tf.reduce_sum(tf.nn.conv2d(x, w, 2, "SAME")))
    conv_flops = 2.0 * 96 * 7 * 7 * 128 * 4 * 4 * 64
    out = {"matmul_gflops_per_sec": _best_rate(lambda: float(matmul()), 2.0 * n ** 3,
                                               FLAGS.repeats),
           "conv_gflops_per_sec": _best_rate(lambda: float(conv()), conv_flops, FLAGS.repeats),
           "matmul_size": n, "repeats": FLAGS.repeats, "threads": os.cpu_count(),
           "tensorflow": tf.__version__, "loadavg_1min": os.getloadavg()[0]}
    out["peak_gflops_per_sec"] = max(out["matmul_gflops_per_sec"], out["conv_gflops_per_sec"])
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    app.run(main)
