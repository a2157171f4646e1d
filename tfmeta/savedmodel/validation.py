"""In-graph checks of serving requests: InvalidArgumentError naming the argument, never a crash.

A signature declares the shapes that are fixed (``support_images [None, H, W, C]``,
``z [None, latent_dim]``, scalars ``[]``), but a model server feeds a request's
tensors to the graph as they come, without comparing them to the declared
shapes. So every check here reads the request's *runtime* shape and values
(:func:`runtime_view`, :func:`runtime_rank`, reductions over the flattened
tensor): nothing the declared shape lets TensorFlow fold into a constant, which
would wave a wrong-rank request through.

One limit, in a ``tf.saved_model.load``-ed signature called from Python only: the
function runtime there folds every shape of an input declared fully (the scalars)
from the declaration, so a one-element tensor (``[1]``, ``[1, 1]``) passes as the
scalar it holds; a tensor of several values is still refused (counted by value).
The model server, ``saved_model_cli`` and TF1 sessions refuse both. A tensor of
several values declared fully would pass there with any shape, so such inputs
are declared with their rank only (the classifier's weights, :func:`tensor_checks`).

Each check is ``(ok, message, *data)`` (:func:`batch_checks`, :func:`scalar_checks`,
:func:`label_checks` for class labels (:func:`open_label_checks`: any number of
classes up to a bound), :func:`tensor_checks` for a tensor of a
known shape such as a weight, sizes possibly named and read at run time);
:func:`validate` turns a list of them into Asserts; the ``guard_*`` functions
hand the computation the request's tensors only when every check passed (else a
valid placeholder).

Example:
    >>> ok = validate(batch_checks(z, "z", [100], max_count=1024))
    >>> z = guard_batch(z, ok, [100])
"""

from __future__ import annotations

from typing import Mapping, Sequence

import tensorflow as tf


def _assert(condition: tf.Tensor, message: str, *data: tf.Tensor) -> tf.Operation:
    """An Assert op whose data are strings or int32 (others make Assert build a ``cond``)."""
    for d in data:
        if d.dtype not in (tf.string, tf.int32):
            raise TypeError(f"assert data must be string or int32, got {d.dtype!r}")
    return tf.debugging.Assert(condition, [message, *data], summarize=8)


def validate(checks: Sequence[tuple]) -> tf.Tensor:
    """Adds one Assert per check ``(ok, message, *data)``; returns "all passed".

    Only the first failing check fires: check ``k`` asserts ``ok_k or not
    (checks before k passed)``, so the error names the first violated rule
    whatever order the runtime runs the Asserts in. Every condition must be
    computable on *any* input (no check may rely on an earlier one).

    The Asserts are stateful ops, so a ``tf.function`` (and a SavedModel
    signature) cannot return without running them; but what *follows* them must
    not rely on control dependencies alone: the function runtime specializes the
    graph on the shapes of a call's arguments, and an op that is invalid for those
    shapes fails while the graph is optimized, before any Assert runs (seen with
    TF 2.21). So the computation reads the inputs only through :func:`guard_batch`
    and :func:`guard_scalar`, which pass a valid placeholder value when a check
    failed.
    """
    passed = tf.constant(True)
    for ok, message, *data in checks:
        _assert(tf.logical_or(tf.logical_not(passed), ok), message, *data)
        passed = tf.logical_and(passed, ok)
    return passed


def runtime_view(x: tf.Tensor) -> tf.Tensor:
    """``x`` without its declared shape, so that a session cannot fold its shape ops.

    A ``PlaceholderWithDefault`` of unknown shape: shape inference (and Grappler
    in a TF1 session such as the model server's) sees no rank or size; its value
    is ``x``.
    """
    return tf.raw_ops.PlaceholderWithDefault(input=x, shape=tf.TensorShape(None))


def runtime_rank(x: tf.Tensor) -> tf.Tensor:
    """The rank of the tensor actually fed, as an int32 scalar.

    ``tf.rank`` and ``tf.size(tf.shape(x))`` become constants when the declared
    shape has a known rank, in Python and in Grappler; a model server may still
    feed another rank. Counting the entries of the runtime shape vector cannot
    be folded: its values are unknown until the request arrives.
    """
    return tf.reduce_sum(tf.cast(tf.greater_equal(tf.shape(x), 0), tf.int32))


def _flat(x: tf.Tensor) -> tf.Tensor:
    """``x`` as a vector: reductions over it are valid whatever the fed rank."""
    return tf.reshape(x, [-1])


def count_values(x: tf.Tensor) -> tf.Tensor:
    """How many values an int ``x`` holds, counted from the values (never folded)."""
    flat = _flat(x)
    return tf.reduce_sum(tf.cast(tf.equal(flat, flat), tf.int32))


def scalar_checks(x: tf.Tensor, name: str, low: int | None = None,
                  high: int | None = None) -> list:
    """Checks that an int32 ``x`` is a scalar (within ``[low, high]``)."""
    x = runtime_view(x)
    checks = [(tf.equal(runtime_rank(x), 0),
               f"{name} must be an int32 scalar; got a tensor of shape", tf.shape(x)),
              (tf.equal(count_values(x), 1),
               f"{name} must be an int32 scalar; got a tensor of this many values:",
               count_values(x))]
    if low is not None:
        flat = _flat(x)
        in_range = tf.reduce_all(tf.logical_and(flat >= low, flat <= high))
        checks.append((in_range, f"{name} must be in [{low}, {high}] (bound fixed at export "
                                 "time); got", x))
    return checks


def batch_checks(x: tf.Tensor, name: str, shape: Sequence[int], max_count: int,
                 value_range: tuple[float, float] | None = None, min_count: int = 1,
                 tolerance: float = 0.0) -> list:
    """Checks of rank, trailing ``shape``, ``min_count <= len(x) <= max_count`` and the values.

    With a ``value_range``, values up to ``tolerance`` outside it pass (for
    :func:`guard_batch` to clip them); NaN never does.
    """
    shape = [int(s) for s in shape]
    rank = len(shape) + 1
    expected = "[n, " + ", ".join(map(str, shape)) + "]"
    x = runtime_view(x)
    actual = tf.shape(x)
    padded = tf.concat([actual, tf.zeros([rank], tf.int32)], 0)   # indexable at any rank
    count = padded[0]
    flat = _flat(x)
    if value_range is None:
        values_ok = tf.reduce_all(tf.math.is_finite(flat))
        values_rule = "finite"
    else:
        low, high = value_range
        values_ok = tf.reduce_all(tf.logical_and(flat >= low - tolerance,   # False for NaN
                                                 flat <= high + tolerance))
        values_rule = f"finite and in [{low:g}, {high:g}]" + (
            f" (to within {tolerance:g}, then clipped)" if tolerance else "")
    return [
        (tf.equal(runtime_rank(x), rank),
         f"{name} must have rank {rank}, shape {expected}; got shape", actual),
        (tf.reduce_all(tf.equal(padded[1:rank], shape)),
         f"{name} must have shape {expected}; got shape", actual),
        (tf.logical_and(count >= min_count, count <= max_count),
         f"{name} must hold between {min_count} and {max_count} items (n; bound fixed at "
         "export time); got n =", count),
        (values_ok, f"{name} must be {values_rule}; got",
         _min_max(flat)),
    ]


def guard_batch(x: tf.Tensor, ok: tf.Tensor, shape: Sequence[int], count: int = 1,
                clip: tuple[float, float] | None = None) -> tf.Tensor:
    """``x`` (clipped to ``clip``) if ``ok`` else ``count`` zero items; statically
    ``[None, *shape]``."""
    shape = [int(s) for s in shape]
    safe = tf.cond(ok, lambda: tf.identity(x), lambda: tf.zeros([count, *shape], x.dtype))
    if clip is not None:
        safe = tf.clip_by_value(safe, *clip)
    safe.set_shape([None, *shape])
    return safe


def guard_scalar(x: tf.Tensor, ok: tf.Tensor, default: int) -> tf.Tensor:
    """``x`` if ``ok`` else ``default``; a scalar for an input of any shape."""
    first = tf.reduce_sum(_flat(x)[:1])     # == x when x is a scalar
    return tf.where(ok, first, tf.constant(default, x.dtype))


def label_checks(labels: tf.Tensor, name: str, ways: int, images: tf.Tensor,
                 images_name: str) -> list:
    """Checks that int32 ``labels`` are ``[n]``, one per item of ``images``, cover ``0..ways-1``.

    Every class must occur at least once (so ``n >= ways``) and no label may lie
    outside ``[0, ways - 1]``.
    """
    labels = runtime_view(labels)
    flat = _flat(labels)
    count = tf.size(flat, out_type=tf.int32)
    image_count = tf.concat([tf.shape(runtime_view(images)), [0]], 0)[0]
    classes = tf.range(ways, dtype=tf.int32)
    present = tf.reduce_any(tf.equal(flat[:, None], classes[None, :]), axis=0)
    only = f"it answers {ways}-way requests only: its head has {ways} classes"
    return _label_shape_checks(labels, name, count, image_count, images_name) + [
        (tf.reduce_all(tf.logical_and(flat >= 0, flat < ways)),
         f"{name} must be in [0, {ways - 1}] ({only}); got", _min_max(flat)),
        (tf.reduce_all(present),
         f"{name} must hold every class 0..{ways - 1} at least once ({only}); missing classes",
         tf.boolean_mask(classes, tf.logical_not(present))),
    ]


def _label_shape_checks(labels, name, count, image_count, images_name) -> list:
    return [(tf.equal(runtime_rank(labels), 1),
             f"{name} must have rank 1, shape [n]; got shape", tf.shape(labels)),
            (tf.equal(count, image_count),
             f"{name} must hold one label per image of {images_name}; got labels, images =",
             tf.stack([count, image_count]))]


def _min_max(flat: tf.Tensor) -> tf.Tensor:
    return tf.strings.format("min {}, max {}", (tf.reduce_min(flat), tf.reduce_max(flat)))


def open_label_checks(labels: tf.Tensor, name: str, max_ways: int, images: tf.Tensor,
                      images_name: str, min_ways: int = 2, shots: int | None = None) -> list:
    """:func:`label_checks` of a request whose number of classes N is its largest label + 1.

    N must be in ``[min_ways, max_ways]`` and every class ``0..N-1`` occur at
    least once (with ``shots``: exactly ``shots`` times).
    """
    labels = runtime_view(labels)
    flat = _flat(labels)
    count = tf.size(flat, out_type=tf.int32)
    image_count = tf.concat([tf.shape(runtime_view(images)), [0]], 0)[0]
    ways = tf.reduce_max(tf.concat([flat, [-1]], 0)) + 1
    classes = tf.range(max_ways, dtype=tf.int32)
    seen = tf.math.unsorted_segment_max(tf.ones_like(flat), tf.clip_by_value(
        flat, 0, max_ways - 1), max_ways) > 0
    missing = tf.logical_and(classes < ways, tf.logical_not(seen))
    rule = "N = the largest label + 1"
    return _label_shape_checks(labels, name, count, image_count, images_name) + [
        (tf.reduce_all(tf.logical_and(flat >= 0, flat < max_ways)),
         f"{name} must be in [0, {max_ways - 1}] (N-way requests, {rule}, up to "
         f"{max_ways}: bound fixed at export time); got", _min_max(flat)),
        (ways >= min_ways, f"{name} must hold at least {min_ways} classes ({rule}); got N =",
         ways),
        (tf.logical_not(tf.reduce_any(missing)),
         f"{name} must hold every class 0..N-1 at least once ({rule}); missing classes",
         tf.boolean_mask(classes, missing)),
    ] + ([] if shots is None else [_shots_check(flat, name, max_ways, ways, shots)])


def _shots_check(flat: tf.Tensor, name: str, max_ways: int, ways: tf.Tensor, shots: int):
    """Every class of the request exactly ``shots`` times (a support summary that sums them)."""
    counts = tf.math.unsorted_segment_sum(tf.ones_like(flat), tf.clip_by_value(
        flat, 0, max_ways - 1), max_ways)[:tf.maximum(ways, 0)]
    return (tf.reduce_all(tf.equal(counts, shots)),
            f"{name} must give every class exactly {shots} images (the run sums the "
            f"K feature maps of a class and was trained with K = {shots}); got per class", counts)


def runtime_dim(x: tf.Tensor, axis: int) -> tf.Tensor:
    """Size of dimension ``axis`` of the tensor actually fed (0 if it has fewer dimensions)."""
    return tf.concat([tf.shape(runtime_view(x)), tf.zeros([axis + 1], tf.int32)], 0)[axis]


def tensor_checks(x: tf.Tensor, name: str, shape: Sequence[int | str],
                  sizes: Mapping[str, tf.Tensor] | None = None) -> list:
    """Checks that ``x`` has exactly ``shape`` and finite values (e.g. a weight tensor).

    An entry of ``shape`` may be a name such as ``"S"``: a size known only at run
    time, given in ``sizes`` as an int32 scalar (any size if it is not there).
    """
    sizes = sizes or {}
    wanted = [int(s) if not isinstance(s, str) else sizes.get(s, -1) for s in shape]
    fixed = [not isinstance(s, str) or s in sizes for s in shape]
    x = runtime_view(x)
    actual = tf.shape(x)
    padded = tf.concat([actual, tf.zeros([len(shape)], tf.int32)], 0)
    flat = _flat(x)
    expected = tf.stack([tf.cast(w, tf.int32) for w in wanted]) if shape else actual[:0]
    same = tf.logical_or(tf.equal(padded[:len(shape)], expected),
                         tf.logical_not(tf.constant(fixed, tf.bool, [len(shape)])))
    shown = "[" + ", ".join(map(str, shape)) + "]"
    return [
        (tf.logical_and(tf.equal(runtime_rank(x), len(shape)), tf.reduce_all(same)),
         f"{name} must have shape {shown}; got shape", actual),
        (tf.reduce_all(tf.math.is_finite(flat)), f"{name} must be finite; got",
         _min_max(flat)),
    ]


def guard_labels(labels: tf.Tensor, ok: tf.Tensor, ways: int) -> tf.Tensor:
    """``labels`` if ``ok`` else ``0..ways-1`` (matching ``guard_batch(..., count=ways)``)."""
    safe = tf.cond(ok, lambda: tf.identity(labels), lambda: tf.range(ways, dtype=labels.dtype))
    safe.set_shape([None])
    return safe


def guard_tensor(x: tf.Tensor, ok: tf.Tensor, shape: Sequence[int | str],
                 fill: int = 1) -> tf.Tensor:
    """``x`` if ``ok`` else zeros; statically ``shape`` (a named size: unknown, ``fill`` zeros)."""
    zeros = [fill if isinstance(s, str) else int(s) for s in shape]
    safe = tf.cond(ok, lambda: tf.identity(x), lambda: tf.zeros(zeros, x.dtype))
    safe.set_shape([None if isinstance(s, str) else int(s) for s in shape])
    return safe
