"""Where a benchmark's step spends its work: counted FLOPs and profiled op time.

Shared by ``bench.meta_step`` (MAML-GAN) and ``bench.few_shot_step`` (few-shot
classification):

* :func:`graph_flops` builds a computation in a plain ``tf.Graph`` and sums the registered
  ``flops`` statistics of its ops with ``tf.compat.v1.profiler`` (convolutions and their
  input and filter gradients at 2 FLOPs per multiply-add, matmuls, elementwise ops at one
  per element). Build the computation unrolled: the profiler does not look inside a symbolic
  loop's body.
* :func:`profile_ops` traces one call with ``tf.profiler.experimental`` and sums self time
  per op type with the profiler's own ``framework_op_stats`` tool (what TensorBoard's
  Profile tab shows).

Example:
    >>> graph_flops(lambda: tf.matmul(tf.ones([8, 4]), tf.ones([4, 2])))
    128
"""

from __future__ import annotations

import json
import os
from typing import Callable


def graph_flops(build: Callable[[], object]) -> int:
    """FLOPs of the ops ``build()`` adds to a fresh ``tf.Graph``, as TF's profiler counts them."""
    import tensorflow as tf
    graph = tf.Graph()
    with graph.as_default():
        build()
        opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"
        stats = tf.compat.v1.profiler.profile(graph, options=opts)
    return int(stats.total_float_ops)


def profile_ops(update: Callable[[int], object], step: int, top: int) -> dict:
    """Where one meta-update's time goes: self time per op type, from TF's profiler.

    Traces one call of ``update(step)`` with ``tf.profiler.experimental`` and reads
    the trace with the profiler's own ``framework_op_stats`` tool (what TensorBoard's
    profile plugin shows), summed per op type.
    """
    import glob
    import tempfile

    import tensorflow as tf
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    logdir = tempfile.mkdtemp(prefix="tfmeta_profile_")
    tf.profiler.experimental.start(logdir)
    update(step)
    tf.profiler.experimental.stop()
    paths = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
    if not paths:
        return {"error": f"the profiler wrote no trace under {logdir}"}
    data, ok = plugin.xspace_to_tools_data(paths, "framework_op_stats", {})
    if not ok:
        return {"error": "the profiler could not convert its trace"}
    table = json.loads(data)
    table = table[0] if isinstance(table, list) else table
    cols = [c.get("id") or c.get("label") for c in table["cols"]]
    by_type: dict = {}
    for row in table["rows"]:
        values = dict(zip(cols, [cell.get("v") if cell else None for cell in row["c"]]))
        if values.get("host_or_device") not in (None, "Host", "Device") or \
                values.get("type") in (None, "IDLE"):
            continue
        t = values["type"]
        entry = by_type.setdefault(t, {"self_time_us": 0.0, "occurrences": 0})
        entry["self_time_us"] += float(values.get("total_self_time") or 0.0)
        entry["occurrences"] += int(values.get("occurrences") or 0)
    total = sum(e["self_time_us"] for e in by_type.values()) or 1.0
    ranked = sorted(by_type.items(), key=lambda kv: -kv[1]["self_time_us"])
    return {"op_self_time_sec": total / 1e6,
            "top_op_types": [{"type": t, "share": e["self_time_us"] / total,
                              "sec": e["self_time_us"] / 1e6, "occurrences": e["occurrences"]}
                             for t, e in ranked[:top]]}
