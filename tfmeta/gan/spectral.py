"""Spectral normalization of a discriminator's kernels, as a pure function of its parameters.

Miyato et al. (2018) divide each weight matrix ``W`` of the discriminator by its largest
singular value ``sigma(W)``, so that no layer stretches its input by more than 1 and the
discriminator cannot sharpen its logits without bound. A kernel of any rank is read as the
matrix ``[prod(shape[:-1]), shape[-1]]`` (a convolution's ``[h * w * in, out]``, as Miyato's
and PyTorch's ``spectral_norm`` read it up to a transpose); biases (rank 1) stay as they are.

``sigma`` is estimated by :data:`POWER_ITERATIONS` power iterations on the kernel's smaller
Gram matrix (``W^T W`` or ``W W^T``) from a fixed start vector, every call, as the root of
its Rayleigh quotient (a vector's norm is taken exactly), and differentiated through it all:
the result is one smooth, stateless function of the parameters, so an inner step, a
second-order meta-gradient and a served adaptation all see the same function, and float64
finite differences check its derivatives. Miyato's form carries the power iteration's vector
from one training step to the next and takes it as a constant; here there is no state to
checkpoint or serve. The estimate approaches ``sigma`` from below: after 5 iterations
within 3% on the discriminators of the plain Omniglot runs, 4% and 8% under on the two
convolutions of a spectrally normalized run after 5400 updates (whose leading singular values
lie closer together), so such a kernel's largest singular value ends up near 1.1, not 1.

Example:
    >>> d = build_discriminator()
    >>> normalized = spectral_normalize(functional.params_of(d))
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

POWER_ITERATIONS = 5
_TINY = 1e-12


def _start(rows: int, dtype: tf.DType) -> tf.Tensor:
    """The fixed unit start vector of a kernel with ``rows`` rows (the same in every call)."""
    u = np.random.default_rng(rows).standard_normal(rows)
    return tf.constant(u / np.linalg.norm(u), dtype=dtype)


def largest_singular_value(kernel: tf.Tensor, iterations: int = POWER_ITERATIONS) -> tf.Tensor:
    """The power iteration's estimate of the largest singular value of ``kernel``'s matrix.

    Example:
        >>> float(largest_singular_value(tf.constant([[3.0, 0.0], [0.0, 1.0]])))
        3.0
    """
    kernel = tf.convert_to_tensor(kernel)
    if kernel.shape.rank is None or kernel.shape.rank < 2:
        raise ValueError(f"a kernel has rank >= 2, got shape {kernel.shape}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be an int >= 1, got {iterations!r}")
    matrix = tf.reshape(kernel, [-1, kernel.shape[-1]])
    rows, cols = (int(n) for n in matrix.shape)
    if cols == 1 or rows == 1:   # a vector: its norm, exactly
        return tf.norm(matrix)
    # The power iteration on the smaller Gram matrix: one matrix product per iteration.
    gram = (tf.matmul(matrix, matrix, transpose_a=True) if rows > cols
            else tf.matmul(matrix, matrix, transpose_b=True))
    v = _start(min(rows, cols), matrix.dtype)[:, None]
    for _ in range(iterations):
        v = tf.math.l2_normalize(tf.matmul(gram, v), axis=0)
    return tf.sqrt(tf.reshape(tf.matmul(v, tf.matmul(gram, v), transpose_a=True), []))


def spectral_normalize(params: Sequence[tf.Tensor],
                       iterations: int = POWER_ITERATIONS) -> list:
    """Every kernel (rank >= 2) of ``params`` over its largest singular value; biases as given.

    Example:
        >>> w = spectral_normalize([tf.constant([[3.0, 0.0], [0.0, 1.0]]), tf.ones([2])])
        >>> w[0].numpy().tolist(), w[1].numpy().tolist()
        ([[1.0, 0.0], [0.0, 0.3333333432674408]], [1.0, 1.0])
    """
    out = []
    for p in params:
        p = tf.convert_to_tensor(p)
        if p.shape.rank is not None and p.shape.rank >= 2:
            p = p / tf.maximum(largest_singular_value(p, iterations), _TINY)
        out.append(p)
    return out
