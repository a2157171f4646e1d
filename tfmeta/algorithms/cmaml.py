"""CMAML (Song et al. 2020): a shared, a gating and a pruned private module, meta-trained by MAML.

The customized model of paper 002 has three modules:

* the *shared* module (general ability, shared by all tasks): ``inputs ->
  [features, shared_output]``;
* the *gating* module (shared): ``features -> gate logit [B, 1]``, ``o = sigmoid(logit)``;
* the *private* module, an MLP of ``Dense`` layers ``features -> private_output``
  whose structure is customized per task by pruning;

and outputs ``o * shared_output + (1 - o) * private_output``.

**Algorithm 1 (private network pruning)**, :func:`task_masks`: fine-tune a
copy of the private MLP on the task's training (support) data with L1
regularization (:func:`l1_finetune`, proximal gradient steps: the shared and
gating modules fixed), then prune it up to bottom (:func:`prune_up_to_bottom`).
The result is one 0/1 mask per private kernel.

**Algorithm 2 (joint meta-training)** is MAML on the whole model with the
task's masks applied to the private kernels inside the objective
(:func:`cmaml_objective`): the inner loop adapts shared, gating and the kept
private edges on the support set, the meta-gradient updates all three from the
query loss, and a pruned edge receives exactly zero gradient (inner and outer).
The masks ride in the task's batches (:func:`with_masks`), so the engine's
:func:`tfmeta.algorithms.maml_losses` / ``meta_gradients`` / ``MetaLearner``
run unchanged. Masks are constants of the meta-gradient (pruning is a step
function). Our tasks are transient (new classes every episode), so one private
initialization is meta-learned and each task customizes it by its mask; the
paper's fixed tasks each keep their own private parameters.

Example:
    >>> modules = Modules(shared, gate, private)
    >>> objective = cmaml_objective(modules, cross_entropy)
    >>> masks = task_masks(modules, params["model"], (x, y), cross_entropy, steps=5,
    ...                    learning_rate=0.1, l1=1e-3, threshold=0.05)
    >>> objective(params, (x, y, masks), seed)["model"]
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import keras
import tensorflow as tf

from tfmeta import functional
from tfmeta.types import Reused, Task, task_at

PLAYER = "model"


class Modules(NamedTuple):
    """The three Keras models of a customized model (their variables are the meta-parameters).

    Attributes:
      shared: ``inputs -> [features, shared_output]``.
      gate: ``features -> [B, 1]`` gate logits.
      private: ``features -> private_output``, ``Dense`` layers only (kernel, bias each).
    """
    shared: keras.Model
    gate: keras.Model
    private: keras.Model

    def variables(self) -> list:
        """Shared, gate, then private trainable variables: the player's parameter order."""
        return [v for m in self for v in functional.variables_of(m)]


def kernel_indices(private: keras.Model) -> list[int]:
    """Positions of the private MLP's kernels in its parameter list (``[kernel, bias]`` per layer).

    Raises:
      ValueError: a layer with weights is not a ``Dense`` layer with a bias.
    """
    index, out = 0, []
    for layer in private.layers:
        if not layer.trainable_weights:
            continue
        if not isinstance(layer, keras.layers.Dense) or len(layer.trainable_weights) != 2:
            raise ValueError(f"the private module must be Dense layers with biases; layer "
                             f"{layer.name!r} ({type(layer).__name__}) is not")
        out.append(index)
        index += 2
    if not out:
        raise ValueError(f"the private module {private.name!r} has no Dense layer")
    return out


def split(modules: Modules, params: Sequence[Any]) -> tuple[list, list, list]:
    """``(shared, gate, private)`` parameter lists of the player's flat list."""
    sizes = [len(functional.variables_of(m)) for m in modules]
    if len(params) != sum(sizes):
        raise ValueError(f"params has {len(params)} tensors; the modules have {sizes} "
                         f"(shared, gate, private) = {sum(sizes)}")
    a, b = sizes[0], sizes[0] + sizes[1]
    return list(params[:a]), list(params[a:b]), list(params[b:])


def full_masks(private: keras.Model) -> list[tf.Tensor]:
    """All-ones masks (nothing pruned), one per private kernel."""
    variables = functional.variables_of(private)
    return [tf.ones(variables[i].shape, variables[i].dtype) for i in kernel_indices(private)]


def apply_masks(private: keras.Model, params: Sequence[Any], masks: Sequence[Any]) -> list:
    """The private parameters with each kernel multiplied by its mask (biases unchanged)."""
    indices = kernel_indices(private)
    if len(masks) != len(indices):
        raise ValueError(f"got {len(masks)} masks for {len(indices)} private kernels")
    out = list(params)
    for i, m in zip(indices, masks):
        out[i] = out[i] * tf.cast(m, out[i].dtype)
    return out


def customized_output(modules: Modules, params: Sequence[Any], masks: Sequence[Any],
                      inputs: Any, training: bool = True) -> tf.Tensor:
    """``o * shared + (1 - o) * private(masked)`` at ``params`` (the player's flat list).

    Example:
        >>> logits = customized_output(modules, params, full_masks(modules.private), images)
    """
    shared_p, gate_p, private_p = split(modules, params)
    features, shared_out = functional.apply(modules.shared, shared_p, inputs, training=training)
    o = tf.sigmoid(functional.apply(modules.gate, gate_p, features, training=training))
    private_out = functional.apply(modules.private, apply_masks(modules.private, private_p, masks),
                                   features, training=training)
    return o * shared_out + (1.0 - o) * private_out


def cmaml_objective(modules: Modules, loss: Callable[[tf.Tensor, Any], tf.Tensor], *,
                    player: str = PLAYER):
    """``(params, (inputs, targets, masks), seed) -> {player: loss}`` of the customized model.

    Example:
        >>> learner = MetaLearner({"model": modules.variables()},
        ...                       cmaml_objective(modules, cross_entropy), inner.sgd(0.4), adam)
    """
    def objective(params, batch, seed):
        del seed
        inputs, targets, masks = batch
        return {player: loss(customized_output(modules, params[player], masks, inputs), targets)}
    return objective


def prune_up_to_bottom(kernels: Sequence[Any], threshold: float) -> list[tf.Tensor]:
    """Algorithm 1's up-to-bottom pruning of an MLP's kernels: one 0/1 mask per kernel.

    Kernel ``k`` (1-based, ``[n_in, n_out]``) holds the edges ``E_k`` from the
    nodes ``N_k`` (its rows) to ``N_{k+1}`` (its columns); ``E_L`` feeds the
    output. As written in the paper: every edge of the top layer ``E_L`` and of
    the first layer ``E_1`` is kept, and so is every node of ``N_L``; for
    ``k = L-1`` down to ``2`` an edge of ``E_k`` is kept iff ``|w| > threshold``
    (the paper writes ``e > gamma`` for the weight of edge ``e``; we read it as
    the magnitude) and its upper node in ``N_{k+1}`` is kept; a node of
    ``N_k`` is kept iff one of its edges in ``E_k`` is kept. So a middle edge
    is kept exactly when it is above the threshold and reachable from the
    output through kept edges. Edges of ``E_1`` into a pruned node of ``N_2``
    stay kept (the algorithm keeps ``E_1`` whole) but no longer affect the
    output. With ``L <= 2`` nothing is pruned. Biases are node parameters and
    are not masked.

    Example:
        >>> masks = prune_up_to_bottom([w1, w2, w3], threshold=0.05)   # w2 pruned only
    """
    kernels = [tf.convert_to_tensor(k) for k in kernels]
    if any(k.shape.rank != 2 for k in kernels):
        raise ValueError(f"kernels must be 2-D, got shapes {[k.shape for k in kernels]}")
    masks = [tf.ones_like(k) for k in kernels]
    if len(kernels) <= 2:
        return masks
    alive = tf.ones([kernels[-1].shape[0]], tf.bool)             # N_L: all kept
    for k in range(len(kernels) - 2, 0, -1):                     # E_{L-1} .. E_2 (0-based)
        keep = tf.logical_and(tf.abs(kernels[k]) > tf.cast(threshold, kernels[k].dtype),
                              alive[None, :])
        masks[k] = tf.cast(keep, kernels[k].dtype)
        alive = tf.reduce_any(keep, axis=1)                      # N_k kept
    return masks


def soft_threshold(x: tf.Tensor, amount: Any) -> tf.Tensor:
    """``sign(x) * max(|x| - amount, 0)``: the proximal step of ``amount * |x|``."""
    return tf.sign(x) * tf.nn.relu(tf.abs(x) - tf.cast(amount, x.dtype))


def l1_finetune(loss_fn: Callable[[list], tf.Tensor], params: Sequence[Any],
                kernels: Sequence[int], *, steps: int, learning_rate: float,
                l1: float) -> list:
    """Fine-tunes parameters on ``loss_fn + l1 * sum_k |kernel_k|_1`` by proximal gradient steps.

    Each step is ``p <- p - lr * grad(loss_fn)`` followed, for the kernels, by
    the soft threshold ``lr * l1`` (ISTA): the exact minimizer's sparsity
    (weights exactly 0), where a subgradient step would oscillate around 0.
    Biases are not regularized. With ``l1 = 0`` this is plain gradient descent.

    Example:
        >>> tuned = l1_finetune(lambda p: loss(p), params, [0, 2], steps=5,
        ...                     learning_rate=0.1, l1=1e-3)
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if not learning_rate > 0 or not l1 >= 0:
        raise ValueError(f"learning_rate must be > 0 and l1 >= 0, got {learning_rate!r}, {l1!r}")
    params = [tf.convert_to_tensor(p) for p in params]
    kernels = set(kernels)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss = loss_fn(params)
        grads = tape.gradient(loss, params)
        params = [p - tf.cast(learning_rate, p.dtype) * g for p, g in zip(params, grads)]
        params = [soft_threshold(p, learning_rate * l1) if i in kernels else p
                  for i, p in enumerate(params)]
    return params


def task_masks(modules: Modules, params: Sequence[Any], support: tuple,
               loss: Callable[[tf.Tensor, Any], tf.Tensor], *, steps: int,
               learning_rate: float, l1: float, threshold: float) -> list[tf.Tensor]:
    """Algorithm 1 on one task: L1 fine-tuning of the private MLP on ``support``, then pruning.

    The shared and gating modules stay at ``params`` (their outputs on the
    support set are computed once); only a copy of the private parameters is
    fine-tuned. The masks carry no gradient.

    Args:
      params: the player's flat parameter list (shared, gate, private).
      support: ``(inputs, targets)``.
      loss: ``(outputs, targets) -> scalar``.
      steps, learning_rate, l1: of :func:`l1_finetune`.
      threshold: gamma of :func:`prune_up_to_bottom`.

    Returns:
      One mask per private kernel (0/1, the kernel's dtype).
    """
    inputs, targets = support[0], support[1]
    shared_p, gate_p, private_p = split(modules, [tf.stop_gradient(p) for p in params])
    features, shared_out = functional.apply(modules.shared, shared_p, inputs, training=True)
    o = tf.sigmoid(functional.apply(modules.gate, gate_p, features, training=True))
    indices = kernel_indices(modules.private)

    def private_loss(p):
        out = functional.apply(modules.private, p, features, training=True)
        return loss(o * shared_out + (1.0 - o) * out, targets)

    tuned = l1_finetune(private_loss, private_p, indices, steps=steps,
                        learning_rate=learning_rate, l1=l1)
    return [tf.stop_gradient(m) for m in prune_up_to_bottom([tuned[i] for i in indices],
                                                            threshold)]


def with_masks(tasks: Task, masks_of: Callable[[tuple], list]) -> Task:
    """A stacked meta-batch of ``Reused`` episodes with each task's masks in its batches.

    ``masks_of(support) -> masks`` is called per task (e.g. :func:`task_masks`
    with everything but the support bound); the result's batches are
    ``(inputs, targets, masks)``, what :func:`cmaml_objective` reads.
    """
    if not isinstance(tasks.inner, Reused) or not isinstance(tasks.val, Reused):
        raise ValueError("with_masks needs episodes whose inner and val batches are Reused")
    count = tasks.seed.shape[0]
    if count is None:
        raise ValueError("with_masks needs a static number of tasks")
    masks = [masks_of(task_at(tasks, i).inner.batch) for i in range(count)]
    stacked = [tf.stack(m) for m in zip(*masks)]
    return Task(inner=Reused(tuple(tasks.inner.batch[:2]) + (stacked,)),
                val=Reused(tuple(tasks.val.batch[:2]) + (stacked,)), seed=tasks.seed)


def kept_fraction(masks: Sequence[Any], prunable_only: bool = True) -> tf.Tensor:
    """Fraction of edges kept: of the prunable layers ``E_2 .. E_{L-1}`` (default) or of all."""
    chosen = list(masks[1:-1]) if prunable_only else list(masks)
    if not chosen:
        return tf.constant(1.0, tf.float64)
    kept = tf.add_n([tf.reduce_sum(tf.cast(m, tf.float64)) for m in chosen])
    total = sum(tf.convert_to_tensor(m).shape.num_elements() for m in chosen)
    return kept / tf.constant(float(total), tf.float64)


def mask_jaccard(a: Sequence[Any], b: Sequence[Any]) -> tf.Tensor:
    """Jaccard index of the kept prunable edges of two tasks (1 when both keep none)."""
    pairs = [(tf.cast(x, tf.bool), tf.cast(y, tf.bool)) for x, y in zip(a[1:-1], b[1:-1])]
    if not pairs:
        return tf.constant(1.0, tf.float64)
    both = tf.add_n([tf.reduce_sum(tf.cast(x & y, tf.float64)) for x, y in pairs])
    either = tf.add_n([tf.reduce_sum(tf.cast(x | y, tf.float64)) for x, y in pairs])
    return tf.where(either > 0, both / tf.maximum(either, 1.0), tf.constant(1.0, tf.float64))
